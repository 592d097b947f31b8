"""Set-based event writes: new events and their rollup work in one round trip, telling new
events from duplicates by what the insert returns.

PostgreSQL: COPY the batch into a per-connection temporary staging table, then one
INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING whose output also fills the pending-rollup
queue. SQLite (embedded default): the same statements row by row inside the caller's transaction.
"""

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from django.db import connection

from ingestion.models import Event
from ingestion.validation import ValidEvent
from sessions.rollup import queue

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

_PG_INSERT = f"""
WITH inserted AS (
    INSERT INTO ingestion_event (organization_id, received_at, {_COLUMN_LIST})
    SELECT %(org)s, %(received_at)s, {_COLUMN_LIST} FROM ingest_staging ORDER BY ord
    ON CONFLICT (organization_id, event_id) DO NOTHING
    RETURNING {_PENDING_SOURCE}
), queued AS (
    {_QUEUE_INSERT}
)
SELECT event_id FROM inserted
"""

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


@cache
def _pg_insert_values(count: int) -> str:
    """The same statement as _PG_INSERT with the rows inline: one round trip for small batches."""
    row = "(" + ", ".join(["%s"] * (len(EVENT_COLUMNS) + 2)) + ")"
    return f"""
WITH inserted AS (
    INSERT INTO ingestion_event (organization_id, received_at, {_COLUMN_LIST})
    VALUES {", ".join([row] * count)}
    ON CONFLICT (organization_id, event_id) DO NOTHING
    RETURNING {_PENDING_SOURCE}
), queued AS (
    {_QUEUE_INSERT}
)
SELECT event_id FROM inserted
"""


def _insert_postgres(
    organization_id: int, rows: Sequence[tuple[object, ...]], received_at: datetime
) -> set[str]:
    # Insert in event_id order: concurrent batches sharing ids (a retrying SDK) then take their
    # unique-index locks in one order and wait instead of deadlocking. The sort is stable, so
    # the first copy of an id repeated within the batch still wins.
    rows = sorted(rows, key=lambda row: str(row[0]))
    if len(rows) <= SMALL_BATCH:
        params: list[Any] = [v for row in rows for v in (organization_id, received_at, *row)]
        with connection.cursor() as cursor:
            cursor.execute(_pg_insert_values(len(rows)), params)
            return {event_id for (event_id,) in cursor.fetchall()}
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


def events_insert(
    *, organization_id: int, events: Sequence[tuple[ValidEvent, str]], received_at: datetime
) -> set[str]:
    """Insert (event, cost_source) pairs; returns the event_ids that were new.

    Must run inside a transaction: the events and their rollup work commit together.
    """
    rows = [event_row(event, cost_source) for event, cost_source in events]
    if connection.vendor == "postgresql":
        return _insert_postgres(organization_id, rows, received_at)
    return _insert_sqlite(organization_id, rows, received_at)
