"""Distribution-ready keys (Citus), checked against the LIVE PostgreSQL schema and the SQL the
product runs: every table distributed by organization has a primary key and unique
constraints that include organization_id, and every statement of ingestion, rollup and
analytics touches one organization (so a distributed engine routes it to one shard).

Reference tables (copied to every node, no organization requirement): organizations, users,
memberships, API keys and prices (ModelPrice's organization_id is nullable: the shipped list
prices belong to nobody).
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions.services import session_rollup_drain
from tests.factories import event
from tests.lifecycle.helpers import on_postgres

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not on_postgres, reason="reads PostgreSQL's catalog"),
]

REFERENCE_TABLES = {"infraprism_apikey", "infraprism_membership", "ingestion_modelprice"}


def distributed_tables() -> list[str]:
    """Every ordinary or partitioned table (not a partition) with an organization_id column,
    reference tables aside."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id'
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1
            """
        )
        return [name for (name,) in cursor.fetchall() if name not in REFERENCE_TABLES]


def _keys(table: str) -> list[tuple[str, str, list[str]]]:
    """(kind, name, columns) of the table's primary key, unique constraints and unique
    indexes (a unique index is a unique constraint to a distributed engine)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT CASE WHEN i.indisprimary THEN 'primary key' ELSE 'unique' END,
                   ic.relname,
                   array(SELECT a.attname::text FROM unnest(i.indkey) AS k(attnum)
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass AND i.indisunique
            """,
            [table],
        )
        return [(kind, name, list(columns)) for kind, name, columns in cursor.fetchall()]


def test_every_distributed_table_keys_on_organization() -> None:
    tables = distributed_tables()
    # The tables this issue names, whatever else exists.
    assert {"ingestion_event", "ingestion_eventkey", "ingestion_pendingrollup"} <= set(tables)
    assert {"llm_sessions_session", "costs_daily", "costs_daily_tags"} <= set(tables)
    problems = []
    for table in tables:
        keys = _keys(table)
        if not any(kind == "primary key" for kind, _, _ in keys):
            problems.append(f"{table}: no primary key")
        for kind, name, columns in keys:
            if "organization_id" not in columns:
                problems.append(f"{table}: {kind} {name} {columns} lacks organization_id")
    assert problems == []


def test_reference_tables_are_small_and_organization_free_or_nullable() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'ingestion_modelprice' AND column_name = 'organization_id'"
        )
        assert cursor.fetchone() == ("YES",)


# --- Statements ------------------------------------------------------------------------------


def _scoped(sql: str, org_id: int) -> bool:
    """True when the statement names this organization: a filter on organization_id, or an
    INSERT ... SELECT whose organization_id is this organization's literal id."""
    filters = re.search(rf'organization_id"?\s*(=|IN\s*\()\s*{org_id}\b', sql)
    insert_literal = re.search(rf"SELECT\s+(DISTINCT ON \([^)]*\)\s+)?{org_id}\s*,", sql)
    return bool(filters or insert_literal)


def _mentions_other(sql: str, org_id: int) -> bool:
    other = re.findall(r'organization_id"?\s*(?:=|IN\s*\()\s*(\d+)', sql)
    return any(int(found) != org_id for found in other)


def _touches(sql: str, tables: list[str]) -> list[str]:
    """Distributed tables the statement reads or writes; DDL (a distributed engine propagates
    it to every shard) and names inside string literals (catalog lookups) do not count."""
    if re.match(r"\s*(CREATE|ALTER|DROP)\b", sql, re.IGNORECASE):
        return []
    code = re.sub(r"'[^']*'", "''", sql)
    return [t for t in tables if re.search(rf'\b"?{t}"?\b', code)]


def test_ingestion_rollup_and_analytics_touch_one_organization(client, other_client) -> None:
    tables = distributed_tables()
    other_client.post_json("/v1/events", event("theirs", session_id="s-1"))
    session_rollup_drain(organization_id=other_client.organization.pk)
    org_id = client.organization.pk
    with CaptureQueriesContext(connection) as captured:
        client.post_json("/v1/events", event("one", session_id="s-1", tags={"team": "a"}))
        client.get("/v1/analytics/costs?group_by=tag:team")  # the tag report with pending rows
        client.post_json(
            "/v1/events/batch",
            {
                "events": [
                    event(f"b-{i}", session_id="s-1", entity_type="customer", entity_id="c-1")
                    for i in range(20)
                ]
            },
        )
        session_rollup_drain(organization_id=org_id)
        for path in (
            "/v1/analytics/sessions",
            "/v1/analytics/sessions/s-1",
            "/v1/analytics/sessions/s-1/timeline",
            "/v1/analytics/session-metrics",
            "/v1/analytics/costs",
            "/v1/analytics/costs?group_by=day",
            "/v1/analytics/costs?group_by=entity",
            "/v1/analytics/costs?group_by=model&tag=team:a",
            "/v1/analytics/costs?group_by=tag:team",
            "/v1/analytics/events",
            "/v1/analytics/events?session_id=s-1",
        ):
            response = client.get(path)
            assert response.status_code == 200, (path, response.content)
    checked, unscoped = 0, []
    for query in captured.captured_queries:
        sql = query["sql"]
        touched = _touches(sql, tables)
        if not touched:
            continue
        checked += 1
        if not _scoped(sql, org_id) or _mentions_other(sql, org_id):
            unscoped.append(f"{touched}: {sql[:300]}")
    assert checked > 10
    assert unscoped == []


def test_the_statement_check_tells_scoped_from_unscoped() -> None:
    assert _scoped(
        'SELECT 1 FROM "ingestion_event" WHERE "ingestion_event"."organization_id" = 7', 7
    )
    assert _scoped(
        "INSERT INTO ingestion_eventkey (organization_id, event_id) SELECT 7, event_id", 7
    )
    assert not _scoped('SELECT 1 FROM "ingestion_event" WHERE "ingestion_event"."id" = 7', 7)
    assert not _scoped("SELECT DISTINCT organization_id FROM ingestion_pendingrollup", 7)
    assert _mentions_other(
        "DELETE FROM x WHERE organization_id IN (7, 8) AND organization_id = 8", 7
    )
    assert _touches("SELECT 1 FROM llm_sessions_session", ["llm_sessions_session"])
    assert not _touches("SELECT to_regclass('llm_sessions_session')", ["llm_sessions_session"])
