"""Issue 10, item 3 (rollup side): a session's entity and each tag value come from its first
event by (timestamp, event_id), on both engines, whatever order the events arrived in.

Before the fix PostgreSQL ranked ties by storage order (event pk) and SQLite by arrival, so an
event with a smaller event_id that arrived later lost. Each session here gets its earliest
event last: in a later batch (so on PostgreSQL a later chunk must replace what an earlier one
merged), or later within one batch.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.factories import event
from tests.hardening.rollup_api import Request, body
from tests.hardening.rollup_engines import ENGINES, run_scenario

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/v1/analytics/sessions"
TS = "2025-01-02T10:00:00Z"


def _call(event_id: str, session_id: str, *, timestamp: str | None = TS) -> dict[str, Any]:
    when = {} if timestamp is None else {"timestamp": timestamp}
    return event(
        event_id,
        session_id=session_id,
        cost=1,
        entity_type="customer",
        entity_id=f"from {event_id}",
        tags={"first": event_id, f"only {event_id}": "x"},
        **when,
    )


# session id -> (events in arrival order, batch by batch; the event that must win)
CASES: dict[str, tuple[list[list[dict[str, Any]]], str]] = {
    "later batch": ([[_call("tie-b", "later batch")], [_call("tie-a", "later batch")]], "tie-a"),
    # "p-a" is a prefix of "p-ab", so it sorts first.
    "prefix": ([[_call("p-ab", "prefix")], [_call("p-a", "prefix")]], "p-a"),
    # Code point order: "z" (U+007A) before "é" (U+00E9).
    "code points": ([[_call("u-é", "code points")], [_call("u-z", "code points")]], "u-z"),
    # Without timestamps the calls of one request share its receive time.
    "no timestamp": (
        [
            [
                _call("n-2", "no timestamp", timestamp=None),
                _call("n-1", "no timestamp", timestamp=None),
            ]
        ],
        "n-1",
    ),
    # An earlier timestamp wins over a smaller event_id.
    "earlier time": (
        [
            [_call("t-a", "earlier time")],
            [_call("t-b", "earlier time", timestamp="2025-01-02T09:59:59.999999Z")],
        ],
        "t-b",
    ),
}


def _batches() -> list[list[dict[str, Any]]]:
    rounds = max(len(batches) for batches, _ in CASES.values())
    return [
        [call for batches, _ in CASES.values() if i < len(batches) for call in batches[i]]
        for i in range(rounds)
    ]


REQUESTS: list[Request] = [(session_id, f"{SESSIONS}/{session_id}", {}) for session_id in CASES]


@pytest.mark.parametrize("engine", ENGINES)
def test_entity_and_tags_come_from_the_first_event_by_timestamp_then_event_id(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    result = run_scenario(engine, _batches(), REQUESTS, request, tmp_path)
    assert set(result["ingests"]) == {202}
    for session_id, (batches, winner) in CASES.items():
        status, _ = result["answers"][session_id]
        assert status == 200, session_id
        data = body(result["answers"][session_id])["data"]
        others = {c["event_id"] for batch in batches for c in batch} - {winner}
        assert (data["entity_type"], data["entity_id"]) == ("customer", f"from {winner}"), (
            session_id
        )
        # The first value of a shared key is the winner's; keys only one event has are kept.
        assert data["tags"] == {
            "first": winner,
            **{f"only {event_id}": "x" for event_id in {winner, *others}},
        }, session_id
