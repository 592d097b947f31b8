"""Issue 10, item 1: no session total can wedge its organization's rollup.

10,000 calls of USD 1,000,000 and one of USD 0.000000001 make a session of
USD 10,000,000,000.000000001, more than 2**63 nano-dollars. Before the fix SQLite's rollup
failed with "integer overflow" on every later chunk (the session and every later one stayed
404, `manage.py rollup` crashed, costs answered 503) and PostgreSQL saturated the total at
9,223,372,036.854775807. Now both engines store and answer the exact sum everywhere, and a
session ingested afterwards shows up.
"""

from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.factories import event
from tests.hardening.rollup_api import Request, body
from tests.hardening.rollup_engines import ENGINES, run_scenario

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/v1/analytics/sessions"
NANO = Decimal("1e-9")
BIG = Decimal("10000000000.000000001")
SMALL = Decimal("2.5")
AFTER = Decimal("1")


def _call(event_id: str, session_id: str, cost: float, minute: int = 0) -> dict[str, Any]:
    """One call; `cost` is written as a JSON number (1e-09 is exactly one nano-dollar)."""
    return event(
        event_id, timestamp=f"2025-01-02T10:{minute:02d}:00Z", session_id=session_id, cost=cost
    )


def _batches() -> list[list[dict[str, Any]]]:
    calls = [_call(f"big-{i:05d}", "big", 1_000_000) for i in range(10_000)]
    calls.append(_call("big-tiny", "big", 1e-9, minute=1))
    batches = [calls[i : i + 1000] for i in range(0, len(calls), 1000)]
    batches[-1].append(_call("small-1", "small", 2.5))
    # A session that arrives after the big one: it must not be stuck behind it.
    batches.append([_call("after-1", "after", 1, minute=2)])
    return batches


REQUESTS: list[Request] = [
    ("detail", f"{SESSIONS}/big", {}),
    ("after", f"{SESSIONS}/after", {}),
    ("by cost", SESSIONS, {"order_by": "-total_cost"}),
    ("by cost asc", SESSIONS, {"order_by": "total_cost"}),
    ("min_cost", SESSIONS, {"min_cost": "9300000000"}),
    ("min_cost above 2^63", SESSIONS, {"min_cost": "10000000000.000000001"}),
    ("min_cost above the total", SESSIONS, {"min_cost": "10000000000.000000002"}),
    ("walk by cost", SESSIONS, {"order_by": "-total_cost", "limit": 1}),
    ("walk by cost asc", SESSIONS, {"order_by": "total_cost", "limit": 1}),
    ("metrics", "/v1/analytics/session-metrics", {}),
    ("costs by session", "/v1/analytics/costs", {"group_by": "session"}),
    ("costs by model", "/v1/analytics/costs", {"group_by": "model"}),
]


def _median(values: list[Decimal], fraction: Decimal) -> Decimal:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return value.quantize(NANO, rounding=ROUND_HALF_EVEN)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_session_above_2_63_nano_dollars_is_exact_everywhere_and_wedges_nothing(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    result = run_scenario(engine, _batches(), REQUESTS, request, tmp_path)
    assert set(result["ingests"]) == {202}
    answers = result["answers"]
    walks = {name: answers.pop(name) for name in list(answers) if name.startswith("walk")}
    assert {name: a[0] for name, a in answers.items()} == {
        name: 200 for name, _, _ in REQUESTS if not name.startswith("walk")
    }

    detail = body(answers["detail"])["data"]
    assert (detail["turn_count"], detail["total_cost"]) == (10_001, BIG)
    assert body(answers["after"])["data"]["total_cost"] == AFTER

    by_cost = [(s["session_id"], s["total_cost"]) for s in body(answers["by cost"])["data"]]
    assert by_cost == [("big", BIG), ("small", SMALL), ("after", AFTER)]
    ascending = [s["session_id"] for s in body(answers["by cost asc"])["data"]]
    assert ascending == ["after", "small", "big"]
    assert [s["session_id"] for s in body(answers["min_cost"])["data"]] == ["big"]
    assert [s["session_id"] for s in body(answers["min_cost above 2^63"])["data"]] == ["big"]
    assert body(answers["min_cost above the total"])["data"] == []
    # Keyset pages through totals on both sides of 2**63 nano-dollars.
    for name, expected in (
        ("walk by cost", ["big", "small", "after"]),
        ("walk by cost asc", ["after", "small", "big"]),
    ):
        assert [page[0] for page in walks[name]] == [200] * 3, (name, walks[name])
        assert [body(page)["data"][0]["session_id"] for page in walks[name]] == expected, name

    metrics = body(answers["metrics"])["data"]
    totals = [BIG, SMALL, AFTER]
    grand_total = BIG + SMALL + AFTER
    assert metrics["session_count"] == 3
    assert metrics["total_cost"] == grand_total
    assert metrics["max_cost"] == BIG
    average = (grand_total / 3).quantize(NANO, rounding=ROUND_HALF_EVEN)
    assert metrics["avg_cost_per_session"] == average
    assert metrics["median_cost"] == _median(totals, Decimal("0.5")) == SMALL
    assert metrics["p95_cost"] == _median(totals, Decimal("0.95"))

    by_session = {g["key"]: g["total_cost"] for g in body(answers["costs by session"])["data"]}
    assert by_session == {"big": BIG, "small": SMALL, "after": AFTER}
    (model,) = body(answers["costs by model"])["data"]
    assert (model["key"], model["call_count"], model["total_cost"]) == (
        "gpt-4o",
        10_003,
        grand_total,
    )
