"""GET /v1/analytics/sessions/{session_id} and .../timeline: calls, ids, pages, 404s."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

from tests.analytics.helpers import (
    CALL_FIELDS,
    SESSION_EXTRA_FIELDS,
    SESSION_FIELDS,
    SESSIONS,
    assert_not_found,
    assert_param_error,
    get_ok,
    ingest,
    pages,
)
from tests.factories import event


def _detail_path(session_id: str) -> str:
    return f"{SESSIONS}/{quote(session_id, safe='')}"


def _timeline_path(session_id: str) -> str:
    return f"{_detail_path(session_id)}/timeline"


def test_detail_has_the_session_and_its_calls_in_time_order(
    client: Any, rollup: Callable[[], Any]
) -> None:
    sid = "acme-corp:conv-123"
    priced = event(timestamp="2025-01-02T10:00:05Z", model="gpt-4o", provider="openai",
                   session_id=sid, entity_type="customer", entity_id="acme-corp",
                   input_tokens=1000, output_tokens=200, cached_input_tokens=400, latency_ms=1200,
                   tags={"feature": "chatbot", "step": "2"})  # fmt: skip
    client_cost = event(timestamp="2025-01-02T10:00:00Z", model="claude-3-5-sonnet-20241022",
                        provider="anthropic", session_id=sid, entity_type="customer",
                        entity_id="acme-corp", input_tokens=10, output_tokens=5, cost=0.123456789,
                        latency_ms=300, tags={"feature": "chatbot", "step": "1"})  # fmt: skip
    unpriced = event(timestamp="2025-01-02T10:01:00.250Z", model="house-model-7",
                     session_id=sid, input_tokens=5, status="error")  # fmt: skip
    other = event(timestamp="2025-01-02T10:00:01Z", session_id="another", cost=1)
    ingest(client, [unpriced, priced, other, client_cost])
    rollup()

    body = get_ok(client, _detail_path(sid))
    data = body["data"]
    assert set(data) == SESSION_FIELDS | SESSION_EXTRA_FIELDS | {"calls"}
    # gpt-4o since 2024-10-02: 600 uncached input at 2.50, 400 cached at 1.25, 200 output at
    # 10.00 per million tokens.
    priced_cost = (600 * Decimal("2.50") + 400 * Decimal("1.25") + 200 * Decimal("10")) / 10**6
    assert priced_cost == Decimal("0.0040")
    assert data["session_id"] == sid
    assert data["turn_count"] == 3
    assert data["total_cost"] == float(Decimal("0.123456789") + priced_cost)
    assert (data["first_seen"], data["last_seen"]) == (
        "2025-01-02T10:00:00Z",
        "2025-01-02T10:01:00.250000Z",
    )
    assert data["duration_seconds"] == 60.25
    assert data["models"] == ["claude-3-5-sonnet-20241022", "gpt-4o", "house-model-7"]
    assert data["error_count"] == 1
    assert data["tags"] == {"feature": "chatbot", "step": "1"}  # the first value of a key wins
    assert (data["entity_type"], data["entity_id"]) == ("customer", "acme-corp")

    calls = data["calls"]
    assert [c["event_id"] for c in calls] == [
        client_cost["event_id"],
        priced["event_id"],
        unpriced["event_id"],
    ]
    for call in calls:
        assert set(call) == CALL_FIELDS, call
        assert call["timestamp"].endswith("Z")
        assert isinstance(call["cost"], float)
    assert calls[0] == {
        "event_id": client_cost["event_id"],
        "timestamp": "2025-01-02T10:00:00Z",
        "model": "claude-3-5-sonnet-20241022",
        "provider": "anthropic",
        "entity_type": "customer",
        "entity_id": "acme-corp",
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_input_tokens": 0,
        "cost": 0.123456789,
        "cost_source": "client",
        "latency_ms": 300,
        "status": "success",
        "tags": {"feature": "chatbot", "step": "1"},
    }
    assert (calls[1]["cost"], calls[1]["cost_source"], calls[1]["cached_input_tokens"]) == (
        0.004,
        "computed",
        400,
    )
    assert (calls[1]["latency_ms"], calls[1]["tags"]["step"]) == (1200, "2")
    assert calls[2]["timestamp"] == "2025-01-02T10:01:00.250000Z"
    assert (calls[2]["cost"], calls[2]["cost_source"], calls[2]["status"]) == (
        0.0,
        "unpriced",
        "error",
    )
    assert (calls[2]["entity_type"], calls[2]["entity_id"], calls[2]["latency_ms"]) == (
        None,
        None,
        None,
    )
    assert calls[2]["provider"] == ""
    assert body["pagination"] == {"limit": 1000, "has_more": False, "next_cursor": None}


AWKWARD_IDS = [
    "acme-corp:conv-123",
    "a/b/c",
    "/leading-slash",
    "trailing-slash/",
    "double//slash",
    "with space",
    "plus+sign",
    "ünïcödé 会話 🚀",
    "100%",
    "%2F",
    "what?x=1&y=2",
    "frag#ment",
    "semi;colon",
    "quote\"and'apostrophe",
    "back\\slash",
    "x" * 256,
]


@pytest.mark.parametrize("sid", AWKWARD_IDS)
def test_any_ingested_session_id_round_trips_percent_encoded(
    client: Any, rollup: Callable[[], Any], sid: str
) -> None:
    ingest(client, [event(timestamp="2025-01-02T10:00:00Z", session_id=sid, cost=0.5),
                    event(timestamp="2025-01-02T10:00:02Z", session_id=sid, cost=0.25),
                    event(timestamp="2025-01-02T10:00:01Z", session_id="other-" + sid[:200],
                          cost=9)])  # fmt: skip
    rollup()
    listed = [s for s in get_ok(client, SESSIONS)["data"] if s["session_id"] == sid]
    assert len(listed) == 1
    detail = get_ok(client, _detail_path(sid))["data"]
    assert detail["session_id"] == sid
    assert (detail["turn_count"], detail["total_cost"], len(detail["calls"])) == (2, 0.75, 2)
    timeline = get_ok(client, _timeline_path(sid))["data"]
    assert timeline["session_id"] == sid
    assert [s["cumulative_cost"] for s in timeline["steps"]] == [0.5, 0.75]


def test_id_ending_in_timeline_is_told_apart_by_the_raw_uri(
    client: Any, rollup: Callable[[], Any]
) -> None:
    ingest(client, [
        event(timestamp="2025-01-02T10:00:00Z", session_id="chat", cost=0.1),
        event(timestamp="2025-01-02T10:00:01Z", session_id="chat", cost=0.1),
        event(timestamp="2025-01-02T11:00:00Z", session_id="chat/timeline", cost=0.3),
    ])  # fmt: skip
    rollup()
    detail_path = _detail_path("chat/timeline")  # .../chat%2Ftimeline
    timeline_path = _timeline_path("chat")  # .../chat/timeline
    assert detail_path.endswith("/chat%2Ftimeline")

    # Behind gunicorn the raw request target keeps %2F: each path means what it says.
    detail = get_ok(client, detail_path, RAW_URI=detail_path)["data"]
    assert (detail["session_id"], detail["turn_count"], detail["total_cost"]) == (
        "chat/timeline",
        1,
        0.3,
    )
    assert len(detail["calls"]) == 1
    timeline = get_ok(client, timeline_path, RAW_URI=timeline_path + "?limit=10")
    assert timeline["data"]["session_id"] == "chat"
    assert len(timeline["data"]["steps"]) == 2
    nested = _timeline_path("chat/timeline")  # .../chat%2Ftimeline/timeline
    timeline = get_ok(client, nested, RAW_URI=nested)
    assert timeline["data"]["session_id"] == "chat/timeline"
    assert len(timeline["data"]["steps"]) == 1
    # uwsgi's name for it works too.
    detail = get_ok(client, detail_path, REQUEST_URI=detail_path)["data"]
    assert detail["session_id"] == "chat/timeline"


def test_id_ending_in_timeline_without_a_raw_uri(client: Any, rollup: Callable[[], Any]) -> None:
    """Servers that decode %2F (runserver, the test client): an existing whole id wins."""
    ingest(client, [
        event(timestamp="2025-01-02T10:00:00Z", session_id="only/timeline", cost=0.3),
        event(timestamp="2025-01-02T10:00:00Z", session_id="plain", cost=0.1),
    ])  # fmt: skip
    rollup()
    detail = get_ok(client, _detail_path("only/timeline"))["data"]
    assert detail["session_id"] == "only/timeline" and "calls" in detail
    timeline = get_ok(client, _timeline_path("plain"))["data"]
    assert timeline["session_id"] == "plain" and len(timeline["steps"]) == 1
    # Without the raw URI ".../only%2Ftimeline" and ".../only/timeline" arrive as the same
    # path: the existing whole id is served, as documented in SessionDetailViewSet.
    detail = get_ok(client, _timeline_path("only"))["data"]
    assert detail["session_id"] == "only/timeline" and "calls" in detail
    assert_not_found(client.get(_timeline_path("only"), RAW_URI=_timeline_path("only")))


def _five_calls(sid: str) -> list[dict[str, Any]]:
    """Five calls: two share a timestamp; costs 0.001 .. 0.005 (0.003 twice)."""
    spec = [
        ("2025-01-02T10:00:00Z", 0.001, 100, 10, 500, "success", "gpt-4o"),
        ("2025-01-02T10:00:01.500Z", 0.002, 200, 20, 600, "success", "gpt-4o"),
        ("2025-01-02T10:00:04Z", 0.003, 300, 30, None, "error", "gpt-4o-mini"),
        ("2025-01-02T10:00:04Z", 0.003, 300, 30, None, "error", "gpt-4o-mini"),
        ("2025-01-02T10:00:10.250Z", 0.005, 500, 50, 700, "success", "gpt-4o"),
    ]
    events = []
    for timestamp, cost, input_tokens, output_tokens, latency, status, model in spec:
        fields: dict[str, Any] = {"latency_ms": latency} if latency is not None else {}
        events.append(
            event(timestamp=timestamp, model=model, session_id=sid, cost=cost,
                  input_tokens=input_tokens, output_tokens=output_tokens, status=status,
                  **fields)
        )  # fmt: skip
    return events


def test_calls_are_paginated_by_cursor(client: Any, rollup: Callable[[], Any]) -> None:
    events = _five_calls("paged")
    ingest(client, events[::-1])
    rollup()
    whole = get_ok(client, _detail_path("paged"))["data"]["calls"]
    walked = list(pages(client, _detail_path("paged"), {"limit": 2}))
    assert [len(page["data"]["calls"]) for page in walked] == [2, 2, 1]
    for page in walked:
        assert page["data"]["session_id"] == "paged" and page["data"]["turn_count"] == 5
        assert page["pagination"]["limit"] == 2
    ids = [call["event_id"] for page in walked for call in page["data"]["calls"]]
    assert ids == [call["event_id"] for call in whole]
    assert len(set(ids)) == 5 and set(ids) == {e["event_id"] for e in events}
    timestamps = [call["timestamp"] for call in whole]
    assert timestamps == sorted(timestamps)
    assert_param_error(client.get(_detail_path("paged"), {"cursor": "nope"}), "cursor")
    assert_param_error(client.get(_detail_path("paged"), {"limit": "0"}), "limit")
    assert_param_error(client.get(_detail_path("paged"), {"order_by": "cost"}), "order_by")


def test_timeline_steps_and_running_cost_on_every_page(
    client: Any, rollup: Callable[[], Any]
) -> None:
    ingest(client, _five_calls("tl")[::-1])
    rollup()
    order = [c["event_id"] for c in get_ok(client, _detail_path("tl"))["data"]["calls"]]

    walked = list(pages(client, _timeline_path("tl"), {"limit": 2}))
    assert [len(page["data"]["steps"]) for page in walked] == [2, 2, 1]
    assert all(page["data"]["session_id"] == "tl" for page in walked)
    steps = [step for page in walked for step in page["data"]["steps"]]
    assert steps == get_ok(client, _timeline_path("tl"))["data"]["steps"]
    assert [s["event_id"] for s in steps] == order
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5]
    assert [s["offset_ms"] for s in steps] == [0, 1500, 4000, 4000, 10250]
    assert [s["gap_ms"] for s in steps] == [None, 1500, 2500, 0, 6250]
    assert [s["cost"] for s in steps] == [0.001, 0.002, 0.003, 0.003, 0.005]
    assert [s["cumulative_cost"] for s in steps] == [0.001, 0.003, 0.006, 0.009, 0.014]
    assert [s["input_tokens"] for s in steps] == [100, 200, 300, 300, 500]
    assert [s["output_tokens"] for s in steps] == [10, 20, 30, 30, 50]
    assert [s["latency_ms"] for s in steps] == [500, 600, None, None, 700]
    assert [s["status"] for s in steps] == ["success", "success", "error", "error", "success"]
    assert [s["model"] for s in steps] == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini",
                                           "gpt-4o"]  # fmt: skip
    assert steps[0]["timestamp"] == "2025-01-02T10:00:00Z"
    # A page that starts mid-session still knows what came before it.
    third = get_ok(client, _timeline_path("tl"), {"limit": 2, "cursor":
                   walked[1]["pagination"]["next_cursor"]})  # fmt: skip
    assert third["data"]["steps"][0]["cumulative_cost"] == 0.014
    assert third["data"]["steps"][0]["gap_ms"] == 6250

    # Cursors belong to their timeline ordering: a detail cursor is refused.
    detail_cursor = get_ok(client, _detail_path("tl"), {"limit": 1})["pagination"]["next_cursor"]
    assert_param_error(client.get(_timeline_path("tl"), {"cursor": detail_cursor}), "cursor")
    timeline_cursor = walked[0]["pagination"]["next_cursor"]
    assert_param_error(client.get(_detail_path("tl"), {"cursor": timeline_cursor}), "cursor")
    assert_param_error(client.get(_timeline_path("tl"), {"cursor": "%%%"}), "cursor")
    assert_param_error(client.get(_timeline_path("tl"), {"limit": "1001"}), "limit")


def test_unknown_session_is_a_json_404(client: Any, rollup: Callable[[], Any]) -> None:
    ingest(client, [event(timestamp="2025-01-02T10:00:00Z", session_id="known", cost=0.1)])
    rollup()
    for sid in ("unknown", "KNOWN", "known ", "known/x"):
        assert_not_found(client.get(_detail_path(sid)))
        assert_not_found(client.get(_timeline_path(sid)))


def test_another_organizations_session_is_404_not_403(
    client: Any, other_client: Any, rollup: Callable[[], Any]
) -> None:
    ingest(
        client,
        [
            event(timestamp="2025-01-02T10:00:00Z", session_id="mine", cost=0.1),
            event(timestamp="2025-01-02T10:00:00Z", session_id="shared", cost=0.1),
        ],
    )
    ingest(
        other_client,
        [
            event(timestamp="2025-01-03T10:00:00Z", session_id="shared", cost=7),
            event(timestamp="2025-01-03T10:00:01Z", session_id="shared", cost=7),
        ],
    )
    rollup()  # fmt: skip
    assert_not_found(other_client.get(_detail_path("mine")))
    assert_not_found(other_client.get(_timeline_path("mine")))
    # The same id in two organizations: each sees only its own calls.
    mine = get_ok(client, _detail_path("shared"))["data"]
    theirs = get_ok(other_client, _detail_path("shared"))["data"]
    assert (mine["turn_count"], mine["total_cost"], len(mine["calls"])) == (1, 0.1, 1)
    assert (theirs["turn_count"], theirs["total_cost"], len(theirs["calls"])) == (2, 14, 2)
    steps = get_ok(other_client, _timeline_path("shared"))["data"]["steps"]
    assert [s["cumulative_cost"] for s in steps] == [7, 14]
