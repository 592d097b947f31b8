"""Tenancy (one cross-tenant test per endpoint), scopes, query counts, index use, rate limit."""

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from ingestion.models import Event
from sessions.models import Session
from tests.analytics.helpers import (
    COSTS,
    EVENTS,
    METRICS,
    SESSIONS,
    assert_not_found,
    csv_table,
    get_ok,
    ingest,
    session_ids,
)
from tests.factories import event

READ_ENDPOINTS = [
    SESSIONS,
    f"{SESSIONS}/mine-1",
    f"{SESSIONS}/mine-1/timeline",
    METRICS,
    COSTS,
    EVENTS,
]

# --- cross-tenant: one test per endpoint ---------------------------------------------------


@pytest.fixture
def two_tenants(client: Any, other_client: Any, rollup: Callable[[], Any]) -> tuple[Any, Any]:
    """acme: sessions mine-1, mine-2 and shared (USD 1.5 in all); globex: theirs-1 and shared
    (USD 0.07), with the same entity and tags so that only tenancy tells them apart."""
    common: dict[str, Any] = {
        "entity_type": "customer",
        "entity_id": "acme-corp",
        "tags": {"feature": "chat"},
    }
    ingest(client, [
        event(timestamp="2025-01-02T10:00:00Z", session_id="mine-1", cost=0.5, **common),
        event(timestamp="2025-01-02T10:00:05Z", session_id="mine-1", cost=0.5, **common),
        event(timestamp="2025-01-03T10:00:00Z", session_id="mine-2", cost=0.25, **common),
        event(timestamp="2025-01-04T10:00:00Z", session_id="shared", cost=0.25, **common),
    ])  # fmt: skip
    ingest(other_client, [
        event(timestamp="2025-01-02T11:00:00Z", session_id="theirs-1", cost=0.03, **common),
        event(timestamp="2025-01-05T11:00:00Z", session_id="shared", cost=0.04, **common),
    ])  # fmt: skip
    rollup()
    return client, other_client


def test_sessions_list_is_per_tenant(two_tenants: tuple[Any, Any]) -> None:
    mine, theirs = two_tenants
    filters = {"entity_type": "customer", "entity_id": "acme-corp", "tag": "feature:chat"}
    assert sorted(session_ids(get_ok(theirs, SESSIONS, filters))) == ["shared", "theirs-1"]
    assert sorted(session_ids(get_ok(mine, SESSIONS, filters))) == ["mine-1", "mine-2", "shared"]
    shared = get_ok(theirs, SESSIONS, {"min_cost": "0.04"})["data"]
    assert [(s["session_id"], s["total_cost"]) for s in shared] == [("shared", 0.04)]


def test_sessions_csv_is_per_tenant(two_tenants: tuple[Any, Any]) -> None:
    _, theirs = two_tenants
    _, rows = csv_table(theirs.get(SESSIONS, {"format": "csv"}))
    assert sorted(row["session_id"] for row in rows) == ["shared", "theirs-1"]


def test_session_detail_is_404_for_another_tenant(two_tenants: tuple[Any, Any]) -> None:
    mine, theirs = two_tenants
    assert_not_found(theirs.get(f"{SESSIONS}/mine-1"))
    assert get_ok(mine, f"{SESSIONS}/mine-1")["data"]["turn_count"] == 2
    shared = get_ok(theirs, f"{SESSIONS}/shared")["data"]
    assert (shared["total_cost"], len(shared["calls"])) == (0.04, 1)


def test_session_timeline_is_404_for_another_tenant(two_tenants: tuple[Any, Any]) -> None:
    mine, theirs = two_tenants
    assert_not_found(theirs.get(f"{SESSIONS}/mine-1/timeline"))
    assert len(get_ok(mine, f"{SESSIONS}/mine-1/timeline")["data"]["steps"]) == 2
    steps = get_ok(theirs, f"{SESSIONS}/shared/timeline")["data"]["steps"]
    assert [s["cumulative_cost"] for s in steps] == [0.04]


def test_session_metrics_are_per_tenant(two_tenants: tuple[Any, Any]) -> None:
    mine, theirs = two_tenants
    data = get_ok(theirs, METRICS, {"interval": "day"})["data"]
    assert (data["session_count"], data["total_cost"], data["max_cost"]) == (2, 0.07, 0.04)
    assert [d["date"] for d in data["series"]] == ["2025-01-02", "2025-01-05"]
    assert get_ok(mine, METRICS)["data"]["total_cost"] == 1.5


def test_costs_are_per_tenant(two_tenants: tuple[Any, Any]) -> None:
    mine, theirs = two_tenants
    for group_by in ("entity", "session", "tag:feature", "day"):
        data = get_ok(theirs, COSTS, {"group_by": group_by})["data"]
        assert sum(g["call_count"] for g in data) == 2, group_by
        assert round(sum(g["total_cost"] for g in data), 9) == 0.07, group_by
    keys = [g["key"] for g in get_ok(theirs, COSTS, {"group_by": "session"})["data"]]
    assert keys == ["shared", "theirs-1"]
    _, rows = csv_table(theirs.get(COSTS, {"group_by": "entity", "format": "csv"}))
    assert [(r["entity_id"], r["total_cost"]) for r in rows] == [("acme-corp", "0.07")]
    assert get_ok(mine, COSTS)["data"][0]["total_cost"] == 1.5


def test_events_are_per_tenant(two_tenants: tuple[Any, Any]) -> None:
    mine, theirs = two_tenants
    theirs_events = get_ok(theirs, EVENTS, {"limit": 1000})["data"]
    assert sorted(e["session_id"] for e in theirs_events) == ["shared", "theirs-1"]
    assert get_ok(theirs, EVENTS, {"session_id": "mine-1"})["data"] == []
    assert len(get_ok(mine, EVENTS, {"session_id": "mine-1"})["data"]) == 2


# --- scopes and authentication ---------------------------------------------------------------


@pytest.mark.parametrize("path", READ_ENDPOINTS)
def test_ingest_only_key_is_403_on_reads(
    org: Any, client_for: Callable[..., Any], path: str
) -> None:
    ingest_only = client_for(org, scopes=("ingest",))
    response = ingest_only.get(path)
    assert response.status_code == 403, response.content[:500]
    body = response.json()
    assert body["error"] and "read" in body["detail"]


@pytest.mark.parametrize("path", READ_ENDPOINTS)
def test_reads_without_a_key_are_401(db: None, path: str) -> None:
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_read_only_key_reads(org: Any, client_for: Callable[..., Any]) -> None:
    reader = client_for(org, scopes=("read",))
    assert get_ok(reader, SESSIONS)["data"] == []


# --- no N+1: query counts do not grow with the page ----------------------------------------

# Measured: a list page is 2 queries (the key with its organization, the page); the first
# request of a key in a minute also writes last_used_at. A detail adds the session row; a
# timeline behind a server that gives no raw URI also checks whether ".../timeline" is an id.
MAX_LIST_QUERIES = 3
MAX_DETAIL_QUERIES = 4
# The daily series (which also gives the totals), both percentile pairs, and authentication;
# SQLite has no percentile_disc: each of the four percentiles is its own ordered lookup.
MAX_METRICS_QUERIES = 3 if connection.vendor == "postgresql" else 6


def _count_queries(client: Any, path: str, params: dict[str, Any]) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as queries:
        body = get_ok(client, path, params)
    return len(queries), body


def test_session_page_takes_a_constant_number_of_queries(
    client: Any, rollup: Callable[[], Any], django_assert_max_num_queries: Any
) -> None:
    ingest(client, [
        event(timestamp=f"2025-01-{1 + i % 28:02d}T10:00:00Z", session_id=f"q-{i}", cost=0.01,
              tags={"feature": f"f{i % 3}"}, entity_type="customer", entity_id=f"c{i % 7}")
        for i in range(200) for _ in range(2)
    ])  # fmt: skip
    rollup()
    with django_assert_max_num_queries(MAX_LIST_QUERIES):  # cold: also touches last_used_at
        body = get_ok(client, SESSIONS, {"limit": 200})
    assert len(body["data"]) == 200
    small, _ = _count_queries(client, SESSIONS, {"limit": 2})
    big, body = _count_queries(client, SESSIONS, {"limit": 200})
    assert len(body["data"]) == 200
    assert small == big <= MAX_LIST_QUERIES - 1
    # Filters, other orderings, the next page and CSV do not add per-row queries either.
    params = {"limit": 200, "order_by": "-total_cost", "tag": "feature:f1", "model": "gpt-4o"}
    assert _count_queries(client, SESSIONS, params)[0] == big
    with django_assert_max_num_queries(MAX_LIST_QUERIES - 1):
        assert len(csv_table(client.get(SESSIONS, {"format": "csv"}))[1]) == 200
    with django_assert_max_num_queries(MAX_LIST_QUERIES - 1):
        assert len(get_ok(client, EVENTS, {"limit": 400})["data"]) == 400
    with django_assert_max_num_queries(MAX_METRICS_QUERIES):
        assert get_ok(client, METRICS, {"interval": "day"})["data"]["session_count"] == 200
    for group_by in ("entity", "session", "tag:feature"):
        with django_assert_max_num_queries(MAX_LIST_QUERIES - 1):
            get_ok(client, COSTS, {"group_by": group_by, "limit": 1000})


def test_session_detail_of_500_calls_takes_a_constant_number_of_queries(
    client: Any, rollup: Callable[[], Any], django_assert_max_num_queries: Any
) -> None:
    start = datetime(2025, 1, 2, 10, tzinfo=UTC)
    ingest(client, [
        event(timestamp=(start + timedelta(seconds=i)).isoformat(), session_id="long",
              cost=0.001, input_tokens=i, tags={"n": str(i)})
        for i in range(500)
    ])  # fmt: skip
    rollup()
    with django_assert_max_num_queries(MAX_DETAIL_QUERIES):  # cold
        body = get_ok(client, f"{SESSIONS}/long")
    assert len(body["data"]["calls"]) == 500
    small, _ = _count_queries(client, f"{SESSIONS}/long", {"limit": 2})
    big, body = _count_queries(client, f"{SESSIONS}/long", {})
    assert len(body["data"]["calls"]) == 500
    assert small == big <= MAX_DETAIL_QUERIES - 1
    timeline = f"{SESSIONS}/long/timeline"
    with django_assert_max_num_queries(MAX_DETAIL_QUERIES - 1):
        steps = get_ok(client, timeline, RAW_URI=timeline)["data"]["steps"]
    assert len(steps) == 500 and steps[-1]["cumulative_cost"] == 0.5
    with django_assert_max_num_queries(MAX_DETAIL_QUERIES):
        assert len(get_ok(client, timeline, {"limit": 2})["data"]["steps"]) == 2


# --- PostgreSQL plans: the list queries use the indexes ------------------------------------


def _bulk_dataset(organizations: list[Any]) -> None:
    """5,000 sessions and 12,000 events over 3 organizations, 90 days, 50 entities each."""
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    sessions, events = [], []
    for n in range(5000):
        org = organizations[n % 3]
        first = start + timedelta(minutes=rng.randrange(90 * 24 * 60))
        last = first + timedelta(seconds=rng.randrange(3600))
        sessions.append(
            Session(organization=org, session_id=f"bulk-{n}", entity_type="customer",
                    entity_id=f"c-{rng.randrange(50)}", turn_count=rng.randrange(1, 20),
                    total_cost_nanos=rng.randrange(10**9), first_seen=first, last_seen=last,
                    updated_at=last, models=["gpt-4o"],
                    tags={"feature": f"f-{rng.randrange(8)}", "env": "prod"})
        )  # fmt: skip
    for n in range(12000):
        org = organizations[n % 3]
        at = start + timedelta(seconds=rng.randrange(90 * 24 * 3600))
        events.append(
            Event(organization=org, event_id=f"bulk-{n}", timestamp=at, received_at=at,
                  model="gpt-4o", provider="openai", entity_type="customer",
                  entity_id=f"c-{rng.randrange(50)}", session_id=f"bulk-{n % 5000}",
                  cost_nanos=rng.randrange(10**7), cost_source="client",
                  tags={"feature": f"f-{rng.randrange(8)}"})
        )  # fmt: skip
    Session.objects.bulk_create(sessions, batch_size=2000)
    Event.objects.bulk_create(events, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE llm_sessions_session")
        cursor.execute("ANALYZE ingestion_event")


def _plan_of_request(client: Any, path: str, params: dict[str, Any], table: str) -> str:
    """EXPLAIN of the query the endpoint ran against `table` (the one with ORDER BY)."""
    with CaptureQueriesContext(connection) as queries:
        get_ok(client, path, params)
    statements = [
        q["sql"] for q in queries.captured_queries
        if f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"]
    ]  # fmt: skip
    assert len(statements) == 1, queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statements[0])
        return "\n".join(row[0] for row in cursor.fetchall())


EVENT_KEY_INDEXES = {"event_org_ts", "_pkey on ingestion_event_"}
PLAN_CASES: list[tuple[str, dict[str, Any], str, set[str]]] = [
    (SESSIONS, {"entity_type": "customer", "entity_id": "c-7", "start_date": "2025-02-01"},
     "llm_sessions_session", {"session_org_entity"}),
    (SESSIONS, {"tag": "feature:f-3"}, "llm_sessions_session",
     {"session_org_tags_gin", "session_org_last"}),
    (SESSIONS, {"tag": ["feature:f-3", "env:prod"], "start_date": "2025-03-01"},
     "llm_sessions_session", {"session_org_tags_gin", "session_org_last"}),
    (SESSIONS, {"order_by": "-total_cost"}, "llm_sessions_session", {"session_org_cost"}),
    (SESSIONS, {"order_by": "turn_count"}, "llm_sessions_session", {"session_org_turns"}),
    (SESSIONS, {"order_by": "first_seen"}, "llm_sessions_session", {"session_org_first"}),
    # The partitioned events table's key (organization_id, timestamp, id) is event_org_ts on
    # the parent and ingestion_event_<month>_pkey on each partition (lifecycle/partitions.py).
    (EVENTS, {}, "ingestion_event", EVENT_KEY_INDEXES),
    (EVENTS, {"start_date": "2025-02-01", "end_date": "2025-02-03"}, "ingestion_event",
     EVENT_KEY_INDEXES),
]  # fmt: skip


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans")
def test_list_queries_use_the_indexes(client: Any, make_org: Callable[..., Any]) -> None:
    _bulk_dataset([client.organization, make_org(), make_org()])
    bad = []
    for path, params, table, indexes in PLAN_CASES:
        plan = _plan_of_request(client, path, params, table)
        if f"Seq Scan on {table}" in plan or not any(name in plan for name in indexes):
            bad.append(f"{path} {params}: expected one of {sorted(indexes)}\n{plan}")
    assert not bad, "\n\n".join(bad)


# --- read rate limit -------------------------------------------------------------------------


def test_read_rate_limit_answers_429_with_retry_after(
    client: Any, org: Any, client_for: Callable[..., Any], settings: Any
) -> None:
    settings.READ_RATE_LIMIT = "2/min"
    for _ in range(3):  # a fixed window may turn over mid-test: retry in the next one
        cache.clear()
        window = int(time.time() // 60)
        statuses = [client.get(SESSIONS) for _ in range(3)]
        if int(time.time() // 60) == window:
            break
    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[2]
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"] == "rate_limited"
    # Per key: another key of the same organization still reads.
    assert client_for(org).get(SESSIONS).status_code == 200
    settings.READ_RATE_LIMIT = "off"
    assert client.get(SESSIONS).status_code == 200
