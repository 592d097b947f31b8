"""The same Analytics API on the embedded default: SQLite, no Redis, rollups in-process.

A subprocess (tests/analytics/embedded_app.py with its own settings: DATABASE_URL=sqlite:///...,
no REDIS_URL) migrates, creates an organization and a key, ingests through the real endpoint
and answers a list of requests as JSON. The test checks the numbers by hand and against
PostgreSQL for the same events.
"""

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from tests.analytics.engines import run_embedded
from tests.analytics.helpers import COSTS, EVENTS, METRICS, SESSIONS, ingest
from tests.factories import event

CHAT = "acme-corp:conv/1 é"
CHAT_PATH = f"{SESSIONS}/{quote(CHAT, safe='')}"


def _events() -> list[dict[str, Any]]:
    acme = {"entity_type": "customer", "entity_id": "acme-corp"}
    chatbot = {"feature": "chatbot"}
    return [
        # The guide's chatbot: three gpt-4o turns priced by the server (0.0035 + 0.0041 +
        # 0.0047 at USD 2.50 / 10.00 per million input / output tokens).
        *[
            event(timestamp=f"2025-03-10T09:00:{10 * i:02d}Z", model="gpt-4o", provider="openai",
                  session_id=CHAT, tags=chatbot, input_tokens=tokens_in,
                  output_tokens=tokens_out, latency_ms=900 + i, **acme)
            for i, (tokens_in, tokens_out) in enumerate([(800, 150), (960, 170), (1160, 180)])
        ],
        event(timestamp="2025-03-10T23:30:00Z", model="gpt-4o-mini", session_id="e-2",
              cost=0.05, tags={"feature": "agent"}, **acme),
        event(timestamp="2025-03-11T05:00:00Z", model="claude-3-5-sonnet-20241022",
              session_id="e-3", cost=0.2, tags={"feature": "chatbot", "env": "prod"},
              entity_type="customer", entity_id="globex"),
        event(timestamp="2025-03-11T05:01:00Z", model="gpt-4o", session_id="e-3", cost=0.1,
              tags={"feature": "chatbot", "env": "prod"}, entity_type="customer",
              entity_id="globex", status="error"),
        *[
            event(timestamp=f"2025-03-12T12:00:0{i}Z", model="gemini-2.0-flash",
                  session_id="e-4", cost=0.02, tags={"feature": "search"},
                  entity_type="team", entity_id="research")
            for i in range(5)
        ],
        event(timestamp="2025-03-12T18:00:00Z", model="gpt-4o", session_id="e-5", cost=1.0,
              **acme),
        event(timestamp="2025-03-11T00:00:00Z", model="gpt-4o", cost=0.5, tags=chatbot),
    ]  # fmt: skip


EVENT_LIST = _events()

REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("all", SESSIONS, {}),
    ("by_tag", SESSIONS, {"tag": "feature:chatbot"}),
    ("by_model", SESSIONS, {"model": "gpt-4o"}),
    ("by_model_and_tags", SESSIONS, {"model": "gpt-4o", "tag": ["feature:chatbot", "env:prod"]}),
    ("guide", SESSIONS, {"entity_type": "customer", "entity_id": "acme-corp",
                         "start_date": "2025-01-01"}),
    ("tokyo_day", SESSIONS, {"start_date": "2025-03-11", "end_date": "2025-03-11",
                             "tz": "Asia/Tokyo"}),
    ("by_cost", SESSIONS, {"order_by": "-total_cost", "min_turns": "2"}),
    ("detail", CHAT_PATH, {}),
    ("timeline", f"{CHAT_PATH}/timeline", {}),
    ("timeline_page_2", f"{CHAT_PATH}/timeline", {"limit": 2}),
    ("metrics", METRICS, {}),
    ("metrics_day", METRICS, {"interval": "day"}),
    ("metrics_day_tokyo", METRICS, {"interval": "day", "tz": "Asia/Tokyo"}),
    ("metrics_customers", METRICS, {"entity_type": "customer"}),
    ("costs_feature", COSTS, {"group_by": "tag:feature"}),
    ("costs_day", COSTS, {"group_by": "day"}),
    ("costs_day_tokyo", COSTS, {"group_by": "day", "tz": "Asia/Tokyo"}),
    ("costs_entity", COSTS, {"group_by": "entity"}),
    ("events_chatbot", EVENTS, {"tag": "feature:chatbot", "limit": 4}),
]  # fmt: skip


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database = tmp_path_factory.mktemp("embedded") / "infraprism.sqlite3"
    task = {
        "organizations": {"embedded": [EVENT_LIST]},
        "requests": [[name, "embedded", path, params] for name, path, params in REQUESTS],
    }
    out = run_embedded(task, database)
    assert database.exists()
    out["ingest"] = out["ingest"]["embedded"][0]
    out["answers"] = {
        name: [status, json.loads(text)] for name, (status, _, text) in out["answers"].items()
    }
    return out


def _data(embedded: dict[str, Any], name: str) -> Any:
    status, body = embedded["answers"][name]
    assert status == 200, (name, body)
    return body["data"]


def test_embedded_mode_rolls_up_in_process_on_commit(embedded: dict[str, Any]) -> None:
    assert embedded["vendor"] == "sqlite"
    assert embedded["rollup_in_process"] is True and embedded["redis_url"] == ""
    status, body = embedded["ingest"]
    assert status == 202 and body["accepted"] == len(EVENT_LIST)
    assert embedded["pending_after_ingest"] == 0
    assert embedded["sessions_after_ingest"] == 5


def test_embedded_sessions_filters(embedded: dict[str, Any]) -> None:
    def ids(name: str) -> list[str]:
        return [s["session_id"] for s in _data(embedded, name)]

    assert ids("all") == ["e-5", "e-4", "e-3", "e-2", CHAT]
    assert ids("by_tag") == ["e-3", CHAT]
    assert ids("by_model") == ["e-5", "e-3", CHAT]
    assert ids("by_model_and_tags") == ["e-3"]
    assert ids("guide") == ["e-5", "e-2", CHAT]
    # 2025-03-11 in Tokyo is 2025-03-10T15:00Z .. 2025-03-11T15:00Z.
    assert ids("tokyo_day") == ["e-3", "e-2"]
    assert ids("by_cost") == ["e-3", "e-4", CHAT]
    chat = _data(embedded, "guide")[-1]
    assert (chat["turn_count"], chat["total_cost"], chat["models"]) == (3, 0.0123, ["gpt-4o"])
    assert (chat["first_seen"], chat["last_seen"], chat["duration_seconds"]) == (
        "2025-03-10T09:00:00Z",
        "2025-03-10T09:00:20Z",
        20,
    )
    e3 = _data(embedded, "by_tag")[0]
    assert e3["models"] == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    assert (e3["error_count"], e3["tags"]) == (1, {"feature": "chatbot", "env": "prod"})


def test_embedded_detail_and_timeline(embedded: dict[str, Any]) -> None:
    detail = _data(embedded, "detail")
    assert detail["session_id"] == CHAT
    assert [c["cost"] for c in detail["calls"]] == [0.0035, 0.0041, 0.0047]
    assert {c["cost_source"] for c in detail["calls"]} == {"computed"}
    steps = _data(embedded, "timeline")["steps"]
    assert [s["offset_ms"] for s in steps] == [0, 10000, 20000]
    assert [s["gap_ms"] for s in steps] == [None, 10000, 10000]
    assert [s["cumulative_cost"] for s in steps] == [0.0035, 0.0076, 0.0123]
    assert [s["latency_ms"] for s in steps] == [900, 901, 902]


def test_embedded_session_metrics(embedded: dict[str, Any]) -> None:
    # Session costs 0.0123 0.05 0.1 0.3 1.0; turns 3 1 2 5 1.
    assert _data(embedded, "metrics") == {
        "session_count": 5,
        "total_cost": 1.4623,
        "avg_cost_per_session": 0.29246,
        "avg_turns": 2.4,
        "median_cost": 0.1,
        "p95_cost": 0.86,  # position 3.8: 0.3 + 0.8 * (1.0 - 0.3)
        "median_turns": 2.0,
        "p95_turns": 4.6,  # sorted 1 1 2 3 5: 3 + 0.8 * (5 - 3)
        "max_cost": 1.0,
    }
    # acme-corp and globex: 0.0123 0.05 0.3 1.0; turns 3 1 2 1.
    customers = _data(embedded, "metrics_customers")
    assert customers["median_cost"] == 0.175  # (0.05 + 0.3) / 2
    assert customers["p95_cost"] == 0.895  # position 2.85: 0.3 + 0.85 * 0.7
    assert (customers["median_turns"], customers["p95_turns"]) == (1.5, 2.85)
    assert [(d["date"], d["session_count"], d["total_cost"]) for d in
            _data(embedded, "metrics_day")["series"]] == [
        ("2025-03-10", 2, 0.0623), ("2025-03-11", 1, 0.3), ("2025-03-12", 2, 1.1),
    ]  # fmt: skip
    assert [(d["date"], d["session_count"], d["total_cost"]) for d in
            _data(embedded, "metrics_day_tokyo")["series"]] == [
        ("2025-03-10", 1, 0.0123), ("2025-03-11", 2, 0.35), ("2025-03-12", 1, 0.1),
        ("2025-03-13", 1, 1.0),
    ]  # fmt: skip


def test_embedded_costs(embedded: dict[str, Any]) -> None:
    def groups(name: str) -> list[tuple[Any, int, float]]:
        return [(g["key"], g["call_count"], g["total_cost"]) for g in _data(embedded, name)]

    assert groups("costs_feature") == [
        (None, 1, 1.0),
        ("chatbot", 6, 0.8123),
        ("search", 5, 0.1),
        ("agent", 1, 0.05),
    ]
    assert groups("costs_day") == [
        ("2025-03-12", 6, 1.1),
        ("2025-03-11", 3, 0.8),
        ("2025-03-10", 4, 0.0623),
    ]
    assert groups("costs_day_tokyo") == [
        ("2025-03-13", 1, 1.0),
        ("2025-03-11", 4, 0.85),
        ("2025-03-12", 5, 0.1),
        ("2025-03-10", 3, 0.0123),
    ]
    events = _data(embedded, "events_chatbot")
    assert [e["timestamp"] for e in events] == [
        "2025-03-11T05:01:00Z",
        "2025-03-11T05:00:00Z",
        "2025-03-11T00:00:00Z",
        "2025-03-10T09:00:20Z",
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="compares with PostgreSQL")
def test_embedded_answers_equal_postgresql(
    embedded: dict[str, Any], client: Any, rollup: Callable[[], Any]
) -> None:
    ingest(client, EVENT_LIST)
    rollup()
    for name, path, params in REQUESTS:
        response = client.get(path, params)
        # Cursors are opaque and carry row ids, which differ between the two databases.
        answer = _without_cursor(response.json())
        expected = _without_cursor(embedded["answers"][name][1])
        assert [response.status_code, answer] == [embedded["answers"][name][0], expected], name


def _without_cursor(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("pagination"), dict):
        pagination = {k: v for k, v in body["pagination"].items() if k != "next_cursor"}
        pagination["has_cursor"] = body["pagination"].get("next_cursor") is not None
        return {**body, "pagination": pagination}
    return body
