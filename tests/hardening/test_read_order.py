"""Issue 10, item 3 (read side): calls with equal timestamps, and calls sent without one (which
share the request's receive time), are ordered by (timestamp, event_id) in a session's calls,
its timeline steps and the events list, on both engines, whatever order they arrived in."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.engines import ENGINES, Answers, run_task
from tests.analytics.helpers import EVENTS, SESSIONS
from tests.factories import event

T0 = "2025-01-02T10:00:00Z"


def _call(event_id: str, session_id: str, **fields: Any) -> dict[str, Any]:
    return event(event_id, session_id=session_id, **fields)


# Arrival order is the reverse of event_id order, in separate requests and within one.
BATCHES = [
    [_call("tie-c", "tie", timestamp=T0, cost=0.3)],
    [_call("tie-b", "tie", timestamp=T0, cost=0.2), _call("tie-a", "tie", timestamp=T0, cost=0.1)],
    [_call("now-z", "now", cost=0.01), _call("now-y", "now", cost=0.02)],  # no timestamps
]
REQUESTS = [
    ["detail", "acme", f"{SESSIONS}/tie", {}],
    ["detail_page", "acme", f"{SESSIONS}/tie", {"limit": 1}],
    ["timeline", "acme", f"{SESSIONS}/tie/timeline", {}],
    ["events", "acme", EVENTS, {"session_id": "tie"}],
    ["now_detail", "acme", f"{SESSIONS}/now", {}],
    ["now_timeline", "acme", f"{SESSIONS}/now/timeline", {}],
    ["now_events", "acme", EVENTS, {"session_id": "now"}],
]
PAGES = [
    ["detail_walk", "acme", f"{SESSIONS}/tie", {"limit": 1}],
    ["timeline_walk", "acme", f"{SESSIONS}/tie/timeline", {"limit": 1}],
    ["events_walk", "acme", EVENTS, {"limit": 1}],
]


@pytest.fixture(params=ENGINES)
def answers(request: pytest.FixtureRequest, tmp_path: Path, db: None) -> Answers:
    task = {"organizations": {"acme": BATCHES}, "requests": REQUESTS, "pages": PAGES}
    return Answers(run_task(request.param, task, request, tmp_path))


def _walk(answers: Answers, name: str, items: Any) -> list[str]:
    seen = []
    for status, text in answers.out["pages"][name]:
        assert status == 200, text
        seen += [row["event_id"] for row in items(json.loads(text))]
    return seen


def test_ties_are_ordered_by_event_id_on_every_endpoint(answers: Answers) -> None:
    calls = [c["event_id"] for c in answers.body("detail")["data"]["calls"]]
    assert calls == ["tie-a", "tie-b", "tie-c"]
    steps = answers.body("timeline")["data"]["steps"]
    assert [(s["step"], s["event_id"]) for s in steps] == [(1, "tie-a"), (2, "tie-b"), (3, "tie-c")]
    assert [str(s["cumulative_cost"]) for s in steps] == ["0.1", "0.3", "0.6"]
    assert [c["event_id"] for c in answers.body("events")["data"]] == ["tie-c", "tie-b", "tie-a"]
    assert [c["event_id"] for c in answers.body("detail_page")["data"]["calls"]] == ["tie-a"]


def test_calls_without_a_timestamp_are_ordered_by_event_id(answers: Answers) -> None:
    assert [c["event_id"] for c in answers.body("now_detail")["data"]["calls"]] == [
        "now-y",
        "now-z",
    ]
    steps = answers.body("now_timeline")["data"]["steps"]
    assert [s["event_id"] for s in steps] == ["now-y", "now-z"]
    assert [c["event_id"] for c in answers.body("now_events")["data"]] == ["now-z", "now-y"]


def test_pages_follow_the_same_order(answers: Answers) -> None:
    assert _walk(answers, "detail_walk", lambda b: b["data"]["calls"]) == [
        "tie-a",
        "tie-b",
        "tie-c",
    ]
    assert _walk(answers, "timeline_walk", lambda b: b["data"]["steps"]) == [
        "tie-a",
        "tie-b",
        "tie-c",
    ]
    newest_first = _walk(answers, "events_walk", lambda b: b["data"])
    # The receive-time calls are the newest; among equal times event_id decides, descending.
    assert newest_first == ["now-z", "now-y", "tie-c", "tie-b", "tie-a"]
