"""Issue 10, items 2, 4 and 13 (read side), on PostgreSQL and the embedded SQLite.

2: filters match ids exactly as stored (no stripping); an empty or whitespace-only value is a
   400 naming the parameter, never a dropped filter.
4: NUL in a session id path, a tag filter or group_by=tag:KEY, and forged cost cursors, are
   400s naming the parameter (not 500, not a false 503 with Retry-After).
13: min_turns=1.5 is a 400, not read as 1.
"""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.engines import ENGINES, Answers, run_task
from tests.analytics.helpers import COSTS, EVENTS, METRICS, SESSIONS
from tests.factories import event

PADDED = " ws-X "
T0 = "2025-01-02T10:00:00Z"


def _events() -> list[dict[str, Any]]:
    def call(n: int, sid: str, **fields: Any) -> dict[str, Any]:
        return event(f"f-{n}", **{"timestamp": T0, "cost": 0.5, "session_id": sid, **fields})

    return [
        call(1, "ws-X", entity_type="customer", entity_id="ws-X", tags={"feature": "chat"}),
        call(2, PADDED, entity_type="customer", entity_id=PADDED, tags={"feature": " chat "},
             model="gpt-4o ", provider=" openai"),
        call(3, "other", entity_type="customer ", entity_id="other", tags={"feature": ""}),
    ]  # fmt: skip


def _forged(payload: Any) -> str:
    """A cursor in the old, unsigned shape: base64 of JSON the client wrote itself."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


BLANKS = [" ", "", "\t", "\u3000"]
# Every filter of each endpoint, and the other parameters that take a value.
BLANK_CASES = [
    (SESSIONS, name)
    for name in ("entity_type", "entity_id", "model", "tag", "tz", "start_date", "end_date",
                 "min_cost", "min_turns", "order_by", "cursor", "limit", "format")
] + [
    (EVENTS, name)
    for name in ("session_id", "entity_id", "model", "tag", "provider", "status", "cursor")
] + [
    (COSTS, "group_by"), (COSTS, "session_id"), (METRICS, "interval"), (METRICS, "tag"),
]  # fmt: skip

REQUESTS: list[list[Any]] = [
    ["padded_entity", "acme", SESSIONS, {"entity_id": PADDED}],
    ["plain_entity", "acme", SESSIONS, {"entity_id": "ws-X"}],
    ["padded_type", "acme", SESSIONS, {"entity_type": "customer "}],
    ["padded_session_events", "acme", EVENTS, {"session_id": PADDED}],
    ["padded_model_events", "acme", EVENTS, {"model": "gpt-4o "}],
    ["padded_model_sessions", "acme", SESSIONS, {"model": "gpt-4o "}],
    ["padded_provider", "acme", EVENTS, {"provider": " openai"}],
    ["padded_tag", "acme", EVENTS, {"tag": "feature: chat "}],
    ["padded_tag_sessions", "acme", SESSIONS, {"tag": "feature: chat "}],
    ["empty_tag_value", "acme", EVENTS, {"tag": "feature:"}],
    ["padded_costs", "acme", COSTS, {"group_by": "session", "entity_id": PADDED}],
    *[
        [f"blank {path} {name} {i}", "acme", path, {name: blank}]
        for path, name in BLANK_CASES
        for i, blank in enumerate(BLANKS)
    ],
    ["blank_second_tag", "acme", SESSIONS, {"tag": ["feature:chat", " "]}],
    # Item 4: NUL and friends.
    ["nul_detail", "acme", f"{SESSIONS}/ws%00X", {}],
    ["nul_timeline", "acme", f"{SESSIONS}/ws%00X/timeline", {}],
    ["control_detail", "acme", f"{SESSIONS}/ws%0AX", {}],
    ["nul_tag_sessions", "acme", SESSIONS, {"tag": "feature:ch\x00at"}],
    ["nul_tag_key", "acme", EVENTS, {"tag": "fea\x00ture:chat"}],
    ["nul_tag_costs", "acme", COSTS, {"tag": "feature:\x00"}],
    ["nul_group_by", "acme", COSTS, {"group_by": "tag:fea\x00ture"}],
    ["nul_entity", "acme", SESSIONS, {"entity_id": "ws\x00X"}],
    ["nul_session_filter", "acme", EVENTS, {"session_id": "ws\x00X"}],
    ["nul_tz", "acme", METRICS, {"tz": "Europe/Par\x00is"}],
    ["minus_one_key", "acme", COSTS, {"group_by": "tag:-1"}],
    ["cursor_negative", "acme", COSTS, {"cursor": _forged({"o": "costs:entity", "at": -5})}],
    ["cursor_huge", "acme", COSTS, {"cursor": _forged({"o": "costs:entity", "at": 2**63})}],
    ["cursor_sessions", "acme", SESSIONS, {"cursor": _forged({"o": "-last_seen",
                                           "v": "2025-01-01T00:00:00+00:00", "id": 1})}],
    # Item 13.
    ["min_turns_fraction", "acme", SESSIONS, {"min_turns": "1.5"}],
    ["min_turns_fraction_metrics", "acme", METRICS, {"min_turns": "1.5"}],
]  # fmt: skip


@pytest.fixture(params=ENGINES)
def answers(request: pytest.FixtureRequest, tmp_path: Path, db: None) -> Answers:
    task = {"organizations": {"acme": [_events()]}, "requests": REQUESTS}
    return Answers(run_task(request.param, task, request, tmp_path))


def _ids(answers: Answers, name: str, field: str = "session_id") -> list[Any]:
    return sorted(item[field] for item in answers.body(name)["data"])


def test_filters_match_exactly_as_stored(answers: Answers) -> None:
    assert _ids(answers, "padded_entity") == [PADDED]
    assert _ids(answers, "plain_entity") == ["ws-X"]
    assert _ids(answers, "padded_type") == ["other"]
    assert _ids(answers, "padded_session_events", "event_id") == ["f-2"]
    assert _ids(answers, "padded_model_events", "event_id") == ["f-2"]
    assert _ids(answers, "padded_model_sessions") == [PADDED]
    assert _ids(answers, "padded_provider", "event_id") == ["f-2"]
    assert _ids(answers, "padded_tag", "event_id") == ["f-2"]
    assert _ids(answers, "padded_tag_sessions") == [PADDED]
    assert _ids(answers, "empty_tag_value", "event_id") == ["f-3"]
    assert [g["key"] for g in answers.body("padded_costs")["data"]] == [PADDED]


def test_empty_or_whitespace_values_are_400_naming_the_parameter(answers: Answers) -> None:
    for path, name in BLANK_CASES:
        for i in range(len(BLANKS)):
            body = answers.error(f"blank {path} {name} {i}")
            assert list(body["errors"]) == [name], (path, body)
            assert "empty" in body["errors"][name][0], (path, body)
    assert list(answers.error("blank_second_tag")["errors"]) == ["tag"]


HOSTILE = [
    ("nul_detail", "session_id"),
    ("nul_timeline", "session_id"),
    ("nul_tag_sessions", "tag"),
    ("nul_tag_key", "tag"),
    ("nul_tag_costs", "tag"),
    ("nul_group_by", "group_by"),
    ("nul_entity", "entity_id"),
    ("nul_session_filter", "session_id"),
    ("nul_tz", "tz"),
    ("cursor_negative", "cursor"),
    ("cursor_huge", "cursor"),
    ("cursor_sessions", "cursor"),
    ("min_turns_fraction", "min_turns"),
    ("min_turns_fraction_metrics", "min_turns"),
]


def test_hostile_values_are_400_naming_the_parameter(answers: Answers) -> None:
    for name, parameter in HOSTILE:
        body = answers.error(name)
        assert parameter in body["errors"], (name, body)
    # A line feed cannot be part of a route's path segment: no such session, in JSON.
    assert answers.status("control_detail") == 404


def test_any_tag_key_groups_without_an_error(answers: Answers) -> None:
    # No call has a tag "-1": one group of every call, key null (not a 503).
    groups = answers.body("minus_one_key")["data"]
    assert [(g["key"], g["call_count"]) for g in groups] == [(None, 3)]
