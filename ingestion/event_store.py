"""Set-based event writes: new events and their rollup work in one round trip, telling new
events from duplicates by what the insert returns.

PostgreSQL: COPY the batch into a per-connection temporary staging table (or, for a few rows,
inline VALUES), then one statement that claims the events' idempotency keys (ON CONFLICT DO
NOTHING), inserts the events whose keys were new into the month-partitioned events table and
fills the pending-rollup queue from that insert's RETURNING. SQLite (embedded default): the
events table keeps its unique constraint; the same statements row by row inside the caller's
transaction.
"""

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

import orjson
import psycopg
from django.db import connection
from psycopg.types.numeric import Int8Dumper

from ingestion.models import Event, EventKey
from ingestion.validation import ValidEvent
from lifecycle import partitions
from lifecycle.months import months_of
from sessions.rollup import queue

# Django's debug cursor logs its queries here; the prepared inserts below do the same.
_sql_logger = logging.getLogger("django.db.backends")

EVENT_COLUMNS = (
    "event_id",
    "timestamp",
    "model",
    "provider",
    "entity_type",
    "entity_id",
    "session_id",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost_nanos",
    "cost_source",
    "latency_ms",
    "status",
    "tags",
    "price_id",
)
_COLUMN_LIST = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
# Up to this many rows go inline in one statement; larger batches are COPYed into staging.
SMALL_BATCH = 16

# What the rollup folds, copied from each new event into its pending row: the queue's shape is
# sessions.rollup.queue's. (_PENDING_COLUMNS/_PENDING_VALUES: the names bench/common.py reads.)
_PENDING_COLUMNS = queue.PENDING_COLUMNS
_PENDING_VALUES = queue.PENDING_VALUES
_PENDING_SOURCE = queue.EVENT_SOURCE_COLUMNS
_QUEUE_INSERT = queue.queue_insert_from("inserted")

_STAGING_DDL = """
CREATE TEMPORARY TABLE IF NOT EXISTS ingest_staging (
    ord integer, event_id text, "timestamp" timestamptz, model text, provider text,
    entity_type text, entity_id text, session_id text, input_tokens bigint,
    output_tokens bigint, cached_input_tokens bigint, cost_nanos bigint, cost_source text,
    latency_ms bigint, status text, tags jsonb, price_id bigint
) ON COMMIT DELETE ROWS
"""

# Column types for the rows of an inline VALUES list (a CTE gives its literals no target type).
_CASTS = {
    "timestamp": "timestamptz",
    "input_tokens": "bigint",
    "output_tokens": "bigint",
    "cached_input_tokens": "bigint",
    "cost_nanos": "bigint",
    "latency_ms": "bigint",
    "tags": "jsonb",
    "price_id": "bigint",
}
_STAGED_COLUMNS = ", ".join(
    f'b."{c}"::{_CASTS[c]}' if c in _CASTS else f'b."{c}"' for c in EVENT_COLUMNS
)


def _pg_insert_from(batch: str) -> str:
    """The insert of a batch (`batch` defines CTE `batch` with ord and EVENT_COLUMNS).

    The events table is partitioned by month (no unique constraint across partitions), so
    idempotency lives in ingestion_eventkey: claim the keys first, in event_id order, and
    insert only the events whose key was new; the first copy of an id repeated within the
    batch (lowest ord) wins. One statement, so events, keys and queue rows commit together.
    """
    return f"""
WITH {batch},
claimed AS (
    INSERT INTO {_KEY_TABLE} (organization_id, event_id)
    SELECT %(org)s, event_id FROM batch ORDER BY event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO ingestion_event (organization_id, received_at, {_COLUMN_LIST})
    SELECT DISTINCT ON (b.event_id) %(org)s, %(received_at)s, {_STAGED_COLUMNS}
    FROM batch b JOIN claimed c ON c.event_id = b.event_id
    ORDER BY b.event_id, b.ord
    RETURNING {_PENDING_SOURCE}
), queued AS (
    {_QUEUE_INSERT}
)
SELECT event_id FROM inserted
"""


_KEY_TABLE = EventKey._meta.db_table
_PG_INSERT = _pg_insert_from(f"batch AS (SELECT ord, {_COLUMN_LIST} FROM ingest_staging)")

_SQLITE_INSERT = f"""
INSERT INTO ingestion_event (organization_id, received_at, {_COLUMN_LIST})
VALUES ({", ".join(["%s"] * (len(EVENT_COLUMNS) + 2))})
ON CONFLICT (organization_id, event_id) DO NOTHING
RETURNING id
"""


def event_row(event: ValidEvent, cost_source: str) -> tuple[object, ...]:
    return (
        event.event_id,
        event.timestamp,
        event.model,
        event.provider,
        event.entity_type,
        event.entity_id,
        event.session_id,
        event.input_tokens,
        event.output_tokens,
        event.cached_input_tokens,
        event.cost_nanos,
        cost_source,
        event.latency_ms,
        event.status,
        orjson.dumps(event.tags).decode(),
        event.price_id,
    )


def _pg_insert_one() -> str:
    """One event: the key claim with plain parameters, the event inserted from its RETURNING
    (no VALUES list, no DISTINCT ON): the single-event endpoint's statement."""
    values = ", ".join(f"%s::{_CASTS[c]}" if c in _CASTS else "%s" for c in EVENT_COLUMNS)
    return f"""
WITH claimed AS (
    INSERT INTO {_KEY_TABLE} (organization_id, event_id) VALUES (%s, %s)
    ON CONFLICT DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO ingestion_event (organization_id, received_at, {_COLUMN_LIST})
    SELECT %s, %s, {values} FROM claimed
    RETURNING {_PENDING_SOURCE}
), queued AS (
    {_QUEUE_INSERT}
)
SELECT event_id FROM inserted
"""


_PG_INSERT_ONE = _pg_insert_one()


def _insert_prepared(sql: str, params: Sequence[Any]) -> set[str]:
    """An insert of a few events (_PG_INSERT_ONE, or _pg_insert_values: what single-event
    requests make, alone or grouped) with server-side binding, prepared once per connection.

    Django's cursors bind client-side, so these long statements were interpolated in Python and
    parsed and planned by PostgreSQL on every request (docs/performance.md). They run instead on
    the raw psycopg connection, inside the caller's (Django's) transaction. Django turns
    automatic preparation off for the connection (prepare_threshold None, for poolers); these
    statements are prepared explicitly, and every other query keeps Django's client-side cursor.
    """
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Needed for prepare=True to take effect; other statements are never prepared by it:
        # Django's ClientCursor does not prepare, and the threshold is out of reach.
        raw.prepare_threshold = 1_000_000_000
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        # Every int as bigint: psycopg would pick int2/int4/int8 by value, and each type
        # combination is a statement of its own to prepare.
        cursor.adapters.register_dumper(int, Int8Dumper)
        cursor.execute(sql, params, prepare=True)
        new_ids = {event_id for (event_id,) in cursor.fetchall()}
    if connection.queries_logged:  # as Django's debug cursor logs it (tests capture queries)
        duration = time.monotonic() - started
        logged = psycopg.ClientCursor(raw).mogrify(sql, params)
        connection.queries_log.append({"sql": logged, "time": f"{duration:.3f}"})
        _sql_logger.debug(
            "(%.3f) %s; args=%s; alias=%s",
            duration,
            logged,
            params,
            connection.alias,
            extra={
                "duration": duration,
                "sql": logged,
                "params": params,
                "alias": connection.alias,
            },
        )
    return new_ids


@cache
def _pg_insert_values(count: int) -> str:
    """The same statement as _PG_INSERT with the rows inline: one round trip for small batches."""
    row = "(" + ", ".join(["%s"] * (len(EVENT_COLUMNS) + 1)) + ")"
    batch = f"batch (ord, {_COLUMN_LIST}) AS (VALUES {', '.join([row] * count)})"
    # psycopg's named and positional placeholders cannot mix: org and received_at go by
    # position too, after the rows.
    return _pg_insert_from(batch).replace("%(org)s", "%s").replace("%(received_at)s", "%s")


def _insert_postgres(
    organization_id: int, rows: Sequence[tuple[object, ...]], received_at: datetime
) -> set[str]:
    # Claim keys in event_id order: concurrent batches sharing ids (a retrying SDK) then take
    # their key locks in one order and wait instead of deadlocking.
    rows = sorted(rows, key=lambda row: str(row[0]))
    # A month without a partition gets one before its first event (rows never fall into the
    # DEFAULT partition on this path); free once the month is known to this process.
    partitions.ensure_months(months_of(cast(datetime, row[1]) for row in rows))
    if len(rows) == 1:
        return _insert_prepared(
            _PG_INSERT_ONE, [organization_id, rows[0][0], organization_id, received_at, *rows[0]]
        )
    if len(rows) <= SMALL_BATCH:
        params: list[Any] = [v for ordinal, row in enumerate(rows) for v in (ordinal, *row)]
        return _insert_prepared(
            _pg_insert_values(len(rows)), [*params, organization_id, organization_id, received_at]
        )
    with connection.cursor() as cursor:
        cursor.execute(_STAGING_DDL)
        # Empty already after any commit; this covers an enclosing transaction (tests, scripts)
        # that ingests twice before committing.
        cursor.execute("DELETE FROM ingest_staging")
        with cursor.copy(f"COPY ingest_staging (ord, {_COLUMN_LIST}) FROM STDIN") as copy:
            for ordinal, row in enumerate(rows):
                copy.write_row((ordinal, *row))
        cursor.execute(_PG_INSERT, {"org": organization_id, "received_at": received_at})
        return {event_id for (event_id,) in cursor.fetchall()}


def _insert_sqlite(
    organization_id: int, rows: Sequence[tuple[object, ...]], received_at: datetime
) -> set[str]:
    ops = connection.ops
    stored_at = ops.adapt_datetimefield_value(received_at)
    new_ids: set[str] = set()
    pending: list[int] = []
    with connection.cursor() as cursor:
        for row in rows:
            values: list[Any] = list(row)
            values[1] = ops.adapt_datetimefield_value(values[1])
            cursor.execute(_SQLITE_INSERT, [organization_id, stored_at, *values])
            inserted = cursor.fetchone()
            if inserted is None:
                continue
            new_ids.add(str(row[0]))
            pending.append(inserted[0])
        if pending:
            # queue_insert_from ends in a WHERE clause that picks the events the rollup folds.
            cursor.execute(
                queue.queue_insert_from(Event._meta.db_table)
                + f" AND id IN ({', '.join(['%s'] * len(pending))})",
                pending,
            )
    return new_ids


def is_one_statement(events: Sequence[tuple[ValidEvent, str]]) -> bool:
    """Whether events_insert stores these events in a single statement: on PostgreSQL, few
    enough to go inline, every month's partition already known. A single statement is atomic
    on its own, so it needs no transaction around it (ingestion/group_commit.py)."""
    return (
        connection.vendor == "postgresql"
        and 0 < len(events) <= SMALL_BATCH
        and partitions.months_known(months_of(event.timestamp for event, _ in events))
    )


def events_insert(
    *, organization_id: int, events: Sequence[tuple[ValidEvent, str]], received_at: datetime
) -> set[str]:
    """Insert (event, cost_source) pairs; returns the event_ids that were new.

    Must run inside a transaction, so the events and their rollup work commit together; or,
    when is_one_statement(events), in autocommit mode, where that statement is the transaction.
    """
    rows = [event_row(event, cost_source) for event, cost_source in events]
    if connection.vendor == "postgresql":
        return _insert_postgres(organization_id, rows, received_at)
    return _insert_sqlite(organization_id, rows, received_at)
