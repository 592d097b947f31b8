"""Issue 10, item 7 (read side): group_by=tag:KEY and tag filters work for every key ingestion
accepts (non-ASCII, with `"`, all digits, with `.` or `$` or `:`) on both engines."""

from pathlib import Path
from typing import Any

import pytest

from tests.analytics.engines import ENGINES, Answers, run_task
from tests.analytics.helpers import COSTS, EVENTS, SESSIONS
from tests.factories import event

KEYS = ["ключ", 'qu"ote', "2024", "a.b", "$x", "-1", "0", "emoji 🚀", "back\\slash"]


def _events() -> list[dict[str, Any]]:
    tagged = {key: f"v{i}" for i, key in enumerate(KEYS)}
    return [
        event("t-1", timestamp="2025-01-02T10:00:00Z", session_id="tagged", cost=0.25,
              tags=tagged),
        event("t-2", timestamp="2025-01-02T10:01:00Z", session_id="plain", cost=0.5,
              tags={"other": "x"}),
    ]  # fmt: skip


REQUESTS = [
    req
    for i, key in enumerate(KEYS)
    for req in (
        [f"group {i}", "acme", COSTS, {"group_by": f"tag:{key}"}],
        [f"events {i}", "acme", EVENTS, {"tag": f"{key}:v{i}"}],
        [f"costs {i}", "acme", COSTS, {"tag": f"{key}:v{i}", "group_by": "session"}],
        [f"sessions {i}", "acme", SESSIONS, {"tag": f"{key}:v{i}"}],
        [f"miss {i}", "acme", EVENTS, {"tag": f"{key}:nope"}],
    )
]


@pytest.fixture(params=ENGINES)
def answers(request: pytest.FixtureRequest, tmp_path: Path, db: None) -> Answers:
    task = {"organizations": {"acme": [_events()]}, "requests": REQUESTS}
    return Answers(run_task(request.param, task, request, tmp_path))


def test_group_by_any_tag_key(answers: Answers) -> None:
    wrong = {}
    for i, key in enumerate(KEYS):
        groups = [(g["key"], g["call_count"]) for g in answers.body(f"group {i}")["data"]]
        if groups != [(None, 1), (f"v{i}", 1)]:
            wrong[key] = groups
    assert not wrong


def test_filter_calls_by_any_tag_key(answers: Answers) -> None:
    wrong = {}
    for i, key in enumerate(KEYS):
        found = [e["event_id"] for e in answers.body(f"events {i}")["data"]]
        costs = [g["key"] for g in answers.body(f"costs {i}")["data"]]
        missing = answers.body(f"miss {i}")["data"]
        if (found, costs, missing) != (["t-1"], ["tagged"], []):
            wrong[key] = (found, costs, missing)
    assert not wrong


def test_filter_sessions_by_any_tag_key(answers: Answers) -> None:
    wrong = {}
    for i, key in enumerate(KEYS):
        found = [s["session_id"] for s in answers.body(f"sessions {i}")["data"]]
        if found != ["tagged"]:
            wrong[key] = found
    assert not wrong
