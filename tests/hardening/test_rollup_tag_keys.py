"""Issue 10, item 7 (rollup side and dialect.tag_equals): tags with any key ingestion accepts
(non-ASCII, `"`, `.`, `$`, all digits) merge first-value-wins into the session, and the `tag`
filter and `group_by=tag:KEY` find them, on both engines.

Before the fix SQLite's tag filter built a JSON path from the key, which cannot name a key
holding `"`, so `tag=a"b:early` found nothing.
"""

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.factories import event
from tests.hardening.rollup_api import body
from tests.hardening.rollup_engines import ENGINES, run_scenario

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/v1/analytics/sessions"
COSTS = "/v1/analytics/costs"
KEYS = ["ключ", 'a"b', "a.b", "$x", "2024", "a'b", "sp ace"]


def _call(event_id: str, timestamp: str, value: str, cost: int) -> dict[str, Any]:
    return event(
        event_id,
        timestamp=timestamp,
        session_id="tagged",
        cost=cost,
        tags={key: value for key in KEYS},
    )


# The later call arrives first (and is rolled up first); the earlier one must win.
BATCHES = [
    [_call("late", "2025-01-02T10:00:01Z", "late", 2)],
    [_call("early", "2025-01-02T10:00:00Z", "early", 3)],
    [event("untagged", timestamp="2025-01-02T10:00:02Z", cost=5)],
]
REQUESTS = [
    ("session", f"{SESSIONS}/tagged", {}),
    *[(f"filter {key}", SESSIONS, {"tag": f"{key}:early"}) for key in KEYS],
    *[(f"no match {key}", SESSIONS, {"tag": f"{key}:other"}) for key in KEYS],
    *[(f"costs filter {key}", COSTS, {"group_by": "model", "tag": f"{key}:late"}) for key in KEYS],
    *[(f"group {key}", COSTS, {"group_by": f"tag:{key}"}) for key in KEYS],
]


@pytest.mark.parametrize("engine", ENGINES)
def test_tags_with_any_accepted_key_merge_filter_and_group(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    result = run_scenario(engine, BATCHES, REQUESTS, request, tmp_path)
    assert set(result["ingests"]) == {202}
    answers = result["answers"]
    assert {name: a[0] for name, a in answers.items()} == {name: 200 for name, _, _ in REQUESTS}
    assert body(answers["session"])["data"]["tags"] == {key: "early" for key in KEYS}
    for key in KEYS:
        assert [s["session_id"] for s in body(answers[f"filter {key}"])["data"]] == ["tagged"], key
        assert body(answers[f"no match {key}"])["data"] == [], key
        (late,) = body(answers[f"costs filter {key}"])["data"]
        assert (late["call_count"], late["total_cost"]) == (1, Decimal(2)), key
        groups = {
            g["key"]: (g["call_count"], g["total_cost"])
            for g in body(answers[f"group {key}"])["data"]
        }
        assert groups == {None: (1, 5), "early": (1, 3), "late": (1, 2)}, key
