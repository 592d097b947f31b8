"""session-metrics, costs and events: numbers computed by hand for small fixed datasets."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.analytics.helpers import (
    CALL_FIELDS,
    COSTS,
    EVENTS,
    METRICS,
    SESSIONS,
    assert_param_error,
    csv_table,
    get_ok,
    ingest,
    pages,
)
from tests.factories import event

ACME = {"entity_type": "customer", "entity_id": "acme"}
CLAUDE = "claude-3-5-sonnet-20241022"

# --- session-metrics -----------------------------------------------------------------------

# (session_id, first call UTC, cost per call, turns, entity)
METRIC_SESSIONS = [
    ("m1", "2025-01-01T10:00:00Z", "0.10", 1, ACME),
    ("m2", "2025-01-01T23:30:00Z", "0.10", 2, ACME),  # 2025-01-02 in Tokyo
    ("m3", "2025-01-02T05:00:00Z", "0.15", 2, ACME),
    ("m4", "2025-01-02T16:00:00Z", "0.40", 3, ACME),  # 0.40 over three calls, see below
    ("m5", "2025-01-03T08:00:00Z", "1.00", 7, {"entity_type": "team", "entity_id": "x"}),
]


def _metric_events() -> list[dict[str, Any]]:
    events = []
    for sid, first, cost, turns, entity in METRIC_SESSIONS:
        total = Decimal(cost) * (1 if sid in ("m4", "m5") else turns)
        # Spread the session total over its calls; the last call takes the remainder.
        share = (total / turns).quantize(Decimal("0.000000001"))
        costs = [share] * (turns - 1) + [total - share * (turns - 1)]
        for k, call_cost in enumerate(costs):
            events.append(
                event(timestamp=first.replace(":00Z", f":{k:02d}Z"), session_id=sid,
                      cost=float(call_cost), **entity)
            )  # fmt: skip
    return events


@pytest.fixture
def metric_client(client: Any, rollup: Callable[[], Any]) -> Any:
    ingest(client, _metric_events())
    rollup()
    return client


def test_session_metrics_by_hand(metric_client: Any) -> None:
    # Session costs 0.10 0.20 0.30 0.40 1.00; turns 1 2 2 3 7.
    costs = {s["session_id"]: s["total_cost"] for s in get_ok(metric_client, SESSIONS)["data"]}
    assert costs == {"m1": 0.1, "m2": 0.2, "m3": 0.3, "m4": 0.4, "m5": 1.0}
    data = get_ok(metric_client, METRICS)["data"]
    assert data == {
        "session_count": 5,
        "total_cost": 2.0,
        "avg_cost_per_session": 0.4,
        "avg_turns": 3.0,
        "median_cost": 0.3,
        # percentile_cont: position 0.95 * (5 - 1) = 3.8 -> 0.40 + 0.8 * (1.00 - 0.40)
        "p95_cost": 0.88,
        "median_turns": 2.0,
        "p95_turns": 6.2,  # 3 + 0.8 * (7 - 3)
        "max_cost": 1.0,
    }
    for value in data.values():
        assert isinstance(value, int | float)
    assert isinstance(data["total_cost"], float) and isinstance(data["median_cost"], float)


def test_session_metrics_with_an_even_count_and_filters(metric_client: Any) -> None:
    # customer only: costs 0.10 0.20 0.30 0.40, turns 1 2 2 3.
    data = get_ok(metric_client, METRICS, {"entity_type": "customer"})["data"]
    assert data == {
        "session_count": 4,
        "total_cost": 1.0,
        "avg_cost_per_session": 0.25,
        "avg_turns": 2.0,
        "median_cost": 0.25,  # halfway between 0.20 and 0.30
        "p95_cost": 0.385,  # position 2.85: 0.30 + 0.85 * 0.10
        "median_turns": 2.0,
        "p95_turns": 2.85,  # 2 + 0.85 * (3 - 2)
        "max_cost": 0.4,
    }
    # Overlap with 2025-01-02 (UTC): m3 and m4 (m2 ended on 01-01 at 23:30:01).
    data = get_ok(metric_client, METRICS, {"start_date": "2025-01-02", "end_date": "2025-01-02"})
    assert (data["data"]["session_count"], data["data"]["total_cost"]) == (2, 0.7)
    assert data["data"]["median_cost"] == 0.35
    # The same day in Tokyo is 2025-01-01T15:00Z .. 2025-01-02T15:00Z: m2 and m3.
    data = get_ok(metric_client, METRICS, {"start_date": "2025-01-02", "end_date": "2025-01-02",
                                          "tz": "Asia/Tokyo"})  # fmt: skip
    assert (data["data"]["session_count"], data["data"]["total_cost"]) == (2, 0.5)
    data = get_ok(metric_client, METRICS, {"min_turns": 3})["data"]
    assert (data["session_count"], data["median_turns"], data["max_cost"]) == (2, 5.0, 1.0)


def test_session_metrics_of_nothing(metric_client: Any) -> None:
    data = get_ok(metric_client, METRICS, {"tag": "feature:none"})["data"]
    assert data == {
        "session_count": 0,
        "total_cost": 0,
        "avg_cost_per_session": 0,
        "avg_turns": 0,
        "median_cost": 0,
        "p95_cost": 0,
        "median_turns": 0,
        "p95_turns": 0,
        "max_cost": 0,
    }
    assert (
        get_ok(metric_client, METRICS, {"tag": "feature:none", "interval": "day"})["data"]["series"]
        == []
    )


def test_session_metrics_series_by_day_in_tz(metric_client: Any) -> None:
    utc = get_ok(metric_client, METRICS, {"interval": "day"})["data"]
    assert utc["session_count"] == 5
    assert utc["series"] == [
        {"date": "2025-01-01", "session_count": 2, "total_cost": 0.3,
         "avg_cost_per_session": 0.15, "avg_turns": 1.5},
        {"date": "2025-01-02", "session_count": 2, "total_cost": 0.7,
         "avg_cost_per_session": 0.35, "avg_turns": 2.5},
        {"date": "2025-01-03", "session_count": 1, "total_cost": 1.0,
         "avg_cost_per_session": 1.0, "avg_turns": 7.0},
    ]  # fmt: skip
    # Tokyo is UTC+9: m2 starts on 01-02 and m4 (16:00Z) on 01-03.
    tokyo = get_ok(metric_client, METRICS, {"interval": "day", "tz": "Asia/Tokyo"})["data"]
    assert tokyo["series"] == [
        {"date": "2025-01-01", "session_count": 1, "total_cost": 0.1,
         "avg_cost_per_session": 0.1, "avg_turns": 1.0},
        {"date": "2025-01-02", "session_count": 2, "total_cost": 0.5,
         "avg_cost_per_session": 0.25, "avg_turns": 2.0},
        {"date": "2025-01-03", "session_count": 2, "total_cost": 1.4,
         "avg_cost_per_session": 0.7, "avg_turns": 5.0},
    ]  # fmt: skip
    # Without interval there is no series.
    assert "series" not in get_ok(metric_client, METRICS)["data"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"interval": "week"}, "interval"),
        ({"interval": "DAY"}, "interval"),
        ({"start_date": "2025-99-01"}, "start_date"),
        ({"tz": "Nowhere/City"}, "tz"),
        ({"min_cost": "x"}, "min_cost"),
        ({"order_by": "total_cost"}, "order_by"),
        ({"limit": "10"}, "limit"),
        ({"format": "csv"}, "format"),
    ],
)
def test_session_metrics_bad_parameters(client: Any, params: dict[str, Any], name: str) -> None:
    assert_param_error(client.get(METRICS, params), name)


# --- costs ---------------------------------------------------------------------------------


def _cost_events() -> list[dict[str, Any]]:
    return [
        event(timestamp="2025-02-01T10:00:00Z", model="gpt-4o", provider="openai",
              session_id="s1", tags={"feature": "chatbot"}, cost=0.10,
              input_tokens=100, output_tokens=10, **ACME),
        event(timestamp="2025-02-01T11:00:00Z", model="gpt-4o", provider="openai",
              session_id="s1", tags={"feature": "chatbot", "env": "prod"}, cost=0.20,
              input_tokens=200, output_tokens=20, **ACME),
        event(timestamp="2025-02-01T23:30:00Z", model=CLAUDE, provider="anthropic",
              session_id="s2", tags={"feature": "agent"}, cost=0.50, status="error",
              input_tokens=300, output_tokens=30, entity_type="customer", entity_id="globex"),
        event(timestamp="2025-02-02T09:00:00Z", model="gpt-4o-mini", provider="openai",
              session_id="s3", cost=0.05, input_tokens=400, output_tokens=40,
              entity_type="team", entity_id="research"),
        event(timestamp="2025-02-03T12:00:00Z", model="gpt-4o-mini", provider="openai",
              tags={"feature": "chatbot"}, cost=0.16, input_tokens=500, output_tokens=50),
        event(timestamp="2025-02-03T13:00:00Z", model="gemini-2.0-flash", provider="google",
              session_id="s4", tags={"feature": "search"}, cost=0.25,
              input_tokens=600, output_tokens=60, **ACME),
    ]  # fmt: skip


COST_EVENTS = _cost_events()  # built once: the event ids are fixed for the module
TOTAL_COST = Decimal("1.26")


@pytest.fixture
def cost_client(client: Any) -> Any:
    ingest(client, COST_EVENTS)  # costs and events read the calls: no rollup needed
    return client


def _group(key: Any, calls: int, tokens_in: int, tokens_out: int, cost: float) -> Any:
    return {"key": key, "call_count": calls, "input_tokens": tokens_in,
            "output_tokens": tokens_out, "total_cost": cost}  # fmt: skip


EXPECTED_GROUPS = {
    "entity": [
        _group({"entity_type": "customer", "entity_id": "acme"}, 3, 900, 90, 0.55),
        _group({"entity_type": "customer", "entity_id": "globex"}, 1, 300, 30, 0.5),
        _group({"entity_type": None, "entity_id": None}, 1, 500, 50, 0.16),
        _group({"entity_type": "team", "entity_id": "research"}, 1, 400, 40, 0.05),
    ],
    "entity_type": [
        _group("customer", 4, 1200, 120, 1.05),
        _group(None, 1, 500, 50, 0.16),
        _group("team", 1, 400, 40, 0.05),
    ],
    "model": [
        _group(CLAUDE, 1, 300, 30, 0.5),
        _group("gpt-4o", 2, 300, 30, 0.3),
        _group("gemini-2.0-flash", 1, 600, 60, 0.25),
        _group("gpt-4o-mini", 2, 900, 90, 0.21),
    ],
    "provider": [
        _group("openai", 4, 1200, 120, 0.51),
        _group("anthropic", 1, 300, 30, 0.5),
        _group("google", 1, 600, 60, 0.25),
    ],
    "session": [
        _group("s2", 1, 300, 30, 0.5),
        _group("s1", 2, 300, 30, 0.3),
        _group("s4", 1, 600, 60, 0.25),
        _group(None, 1, 500, 50, 0.16),
        _group("s3", 1, 400, 40, 0.05),
    ],
    "day": [
        _group("2025-02-01", 3, 600, 60, 0.8),
        _group("2025-02-03", 2, 1100, 110, 0.41),
        _group("2025-02-02", 1, 400, 40, 0.05),
    ],
    "tag:feature": [
        _group("agent", 1, 300, 30, 0.5),
        _group("chatbot", 3, 800, 80, 0.46),
        _group("search", 1, 600, 60, 0.25),
        _group(None, 1, 400, 40, 0.05),
    ],
    "tag:env": [
        _group(None, 5, 1900, 190, 1.06),
        _group("prod", 1, 200, 20, 0.2),
    ],
}


@pytest.mark.parametrize("group_by", sorted(EXPECTED_GROUPS))
def test_costs_by_group(cost_client: Any, group_by: str) -> None:
    body = get_ok(cost_client, COSTS, {"group_by": group_by})
    assert body["data"] == EXPECTED_GROUPS[group_by]
    assert body["pagination"] == {"limit": 50, "has_more": False, "next_cursor": None}
    # Every call is in exactly one group: totals add up, nothing counted twice.
    assert sum(Decimal(str(g["total_cost"])) for g in body["data"]) == TOTAL_COST
    assert sum(g["call_count"] for g in body["data"]) == 6
    assert sum(g["input_tokens"] for g in body["data"]) == 2100
    assert all(isinstance(g["total_cost"], float) for g in body["data"])


def test_costs_default_group_is_entity(cost_client: Any) -> None:
    assert get_ok(cost_client, COSTS)["data"] == EXPECTED_GROUPS["entity"]


def test_costs_by_day_in_tz(cost_client: Any) -> None:
    # Tokyo: 23:30Z on 02-01 is 02-02; 10:00Z and 11:00Z stay on 02-01.
    body = get_ok(cost_client, COSTS, {"group_by": "day", "tz": "Asia/Tokyo"})
    assert body["data"] == [
        _group("2025-02-02", 2, 700, 70, 0.55),
        _group("2025-02-03", 2, 1100, 110, 0.41),
        _group("2025-02-01", 2, 300, 30, 0.3),
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"group_by": "model", "tag": "feature:chatbot"},
         [_group("gpt-4o", 2, 300, 30, 0.3), _group("gpt-4o-mini", 1, 500, 50, 0.16)]),
        ({"group_by": "model", "tag": ["feature:chatbot", "env:prod"]},
         [_group("gpt-4o", 1, 200, 20, 0.2)]),
        ({"group_by": "provider", "start_date": "2025-02-02"},
         [_group("google", 1, 600, 60, 0.25), _group("openai", 2, 900, 90, 0.21)]),
        ({"group_by": "day", "entity_type": "customer"},
         [_group("2025-02-01", 3, 600, 60, 0.8), _group("2025-02-03", 1, 600, 60, 0.25)]),
        ({"group_by": "session", "entity_id": "acme", "end_date": "2025-02-01"},
         [_group("s1", 2, 300, 30, 0.3)]),
        ({"group_by": "entity_type", "model": "gpt-4o-mini"},
         [_group(None, 1, 500, 50, 0.16), _group("team", 1, 400, 40, 0.05)]),
        ({"group_by": "tag:feature", "start_date": "2025-02-02", "end_date": "2025-02-02",
          "tz": "Asia/Tokyo"},
         [_group("agent", 1, 300, 30, 0.5), _group(None, 1, 400, 40, 0.05)]),
        ({"group_by": "tag:feature", "end_date": "2025-02-01T10:00:00Z"},
         [_group("chatbot", 1, 100, 10, 0.1)]),
        ({"group_by": "model", "entity_type": "nobody"}, []),
    ],
)  # fmt: skip
def test_costs_with_filters(cost_client: Any, params: dict[str, Any], expected: Any) -> None:
    assert get_ok(cost_client, COSTS, params)["data"] == expected


def test_costs_pages_by_cursor(cost_client: Any) -> None:
    walked = list(pages(cost_client, COSTS, {"group_by": "session", "limit": 2}))
    assert [len(page["data"]) for page in walked] == [2, 2, 1]
    assert [g for page in walked for g in page["data"]] == EXPECTED_GROUPS["session"]
    cursor = walked[0]["pagination"]["next_cursor"]
    assert_param_error(cost_client.get(COSTS, {"group_by": "model", "cursor": cursor}), "cursor")
    assert_param_error(cost_client.get(COSTS, {"group_by": "session", "cursor": "x"}), "cursor")


def test_costs_csv(cost_client: Any) -> None:
    header, rows = csv_table(cost_client.get(COSTS, {"group_by": "entity", "format": "csv"}))
    assert header == ["entity_type", "entity_id", "call_count", "input_tokens", "output_tokens",
                      "total_cost"]  # fmt: skip
    assert rows == [
        {"entity_type": "customer", "entity_id": "acme", "call_count": "3",
         "input_tokens": "900", "output_tokens": "90", "total_cost": "0.55"},
        {"entity_type": "customer", "entity_id": "globex", "call_count": "1",
         "input_tokens": "300", "output_tokens": "30", "total_cost": "0.5"},
        {"entity_type": "", "entity_id": "", "call_count": "1",
         "input_tokens": "500", "output_tokens": "50", "total_cost": "0.16"},
        {"entity_type": "team", "entity_id": "research", "call_count": "1",
         "input_tokens": "400", "output_tokens": "40", "total_cost": "0.05"},
    ]  # fmt: skip
    header, rows = csv_table(cost_client.get(COSTS, {"group_by": "tag:feature", "format": "csv"}))
    assert header == ["key", "call_count", "input_tokens", "output_tokens", "total_cost"]
    assert [(r["key"], r["call_count"], r["total_cost"]) for r in rows] == [
        ("agent", "1", "0.5"),
        ("chatbot", "3", "0.46"),
        ("search", "1", "0.25"),
        ("", "1", "0.05"),
    ]
    # CSV has every group, whatever the page size.
    _, rows = csv_table(cost_client.get(COSTS, {"group_by": "day", "format": "csv", "limit": 1}))
    assert [r["key"] for r in rows] == ["2025-02-01", "2025-02-03", "2025-02-02"]
    assert sum(Decimal(r["total_cost"]) for r in rows) == TOTAL_COST


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"group_by": "Entity"}, "group_by"),
        ({"group_by": "tag:"}, "group_by"),
        ({"group_by": "tag:" + "k" * 65}, "group_by"),
        ({"group_by": "entity,model"}, "group_by"),
        ({"group_by": "model", "format": "xml"}, "format"),
        ({"group_by": "model", "interval": "day"}, "interval"),
        ({"group_by": "model", "limit": "0"}, "limit"),
        ({"group_by": "model", "end_date": "2025-02-01", "start_date": "2025-02-02"}, "end_date"),
        ({"group_by": "model", "min_cost": "1"}, "min_cost"),
    ],
)
def test_costs_bad_parameters(client: Any, params: dict[str, Any], name: str) -> None:
    assert_param_error(client.get(COSTS, params), name)


# --- events --------------------------------------------------------------------------------


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["event_id"] for item in body["data"]]


def test_events_newest_first_with_fields(cost_client: Any) -> None:
    events = COST_EVENTS
    body = get_ok(cost_client, EVENTS)
    assert _ids(body) == [e["event_id"] for e in events[::-1]]
    assert body["pagination"] == {"limit": 50, "has_more": False, "next_cursor": None}
    newest = body["data"][0]
    assert set(newest) == CALL_FIELDS | {"session_id"}
    assert newest == {
        "event_id": events[5]["event_id"],
        "timestamp": "2025-02-03T13:00:00Z",
        "session_id": "s4",
        "model": "gemini-2.0-flash",
        "provider": "google",
        "entity_type": "customer",
        "entity_id": "acme",
        "input_tokens": 600,
        "output_tokens": 60,
        "cached_input_tokens": 0,
        "cost": 0.25,
        "cost_source": "client",
        "latency_ms": None,
        "status": "success",
        "tags": {"feature": "search"},
    }
    assert body["data"][1]["session_id"] is None


@pytest.mark.parametrize(
    ("params", "indexes"),
    [
        ({"entity_type": "customer"}, [5, 2, 1, 0]),
        ({"entity_type": "customer", "entity_id": "acme"}, [5, 1, 0]),
        ({"model": "gpt-4o-mini"}, [4, 3]),
        ({"model": "gpt-4o"}, [1, 0]),
        ({"tag": "feature:chatbot"}, [4, 1, 0]),
        ({"tag": ["feature:chatbot", "env:prod"]}, [1]),
        ({"session_id": "s1"}, [1, 0]),
        ({"status": "error"}, [2]),
        ({"provider": "google"}, [5]),
        ({"start_date": "2025-02-02", "end_date": "2025-02-02"}, [3]),
        ({"start_date": "2025-02-02", "end_date": "2025-02-02", "tz": "Asia/Tokyo"}, [3, 2]),
        ({"start_date": "2025-02-01T11:00:00Z", "end_date": "2025-02-02T09:00:00Z"}, [3, 2, 1]),
        ({"tag": "feature:nope"}, []),
    ],
)
def test_events_filters(cost_client: Any, params: dict[str, Any], indexes: list[int]) -> None:
    events = COST_EVENTS
    assert _ids(get_ok(cost_client, EVENTS, params)) == [events[i]["event_id"] for i in indexes]


def test_events_cursor_pages_with_ties(client: Any) -> None:
    events = [
        event(timestamp=f"2025-02-0{1 + i % 3}T10:00:00Z", cost=0.001, session_id=f"t{i % 4}")
        for i in range(23)
    ]
    ingest(client, events)
    walked = list(pages(client, EVENTS, {"limit": 4}))
    assert [len(p["data"]) for p in walked] == [4, 4, 4, 4, 4, 3]
    ids = [i for page in walked for i in _ids(page)]
    assert len(ids) == len(set(ids)) == 23
    assert set(ids) == {e["event_id"] for e in events}
    stamps = [item["timestamp"] for page in walked for item in page["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert ids == _ids(get_ok(client, EVENTS, {"limit": 1000}))
    # Filters hold across pages.
    walked = list(pages(client, EVENTS, {"limit": 2, "session_id": "t1"}))
    assert sorted(i for page in walked for i in _ids(page)) == sorted(
        e["event_id"] for e in events if e["session_id"] == "t1"
    )


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"order_by": "timestamp"}, "order_by"),
        ({"status": "failed"}, "status"),
        ({"limit": "1001"}, "limit"),
        ({"cursor": "zzz"}, "cursor"),
        ({"group_by": "model"}, "group_by"),
        ({"format": "csv"}, "format"),
        ({"min_turns": "2"}, "min_turns"),
        ({"session_id": "s" * 257}, "session_id"),
    ],
)
def test_events_bad_parameters(client: Any, params: dict[str, Any], name: str) -> None:
    assert_param_error(client.get(EVENTS, params), name)


def test_events_cursor_from_sessions_is_refused(
    cost_client: Any, rollup: Callable[[], Any]
) -> None:
    rollup()
    cursor = get_ok(cost_client, SESSIONS, {"limit": 1})["pagination"]["next_cursor"]
    assert_param_error(cost_client.get(EVENTS, {"cursor": cursor}), "cursor")
