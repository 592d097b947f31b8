"""The rollup's baseline: the same pending events folded by a hand-written statement that keeps
only the sums, timed the same way as the product's drain.

Per chunk it claims and deletes pending rows exactly as the product does (the same order,
`FOR UPDATE SKIP LOCKED`, the same claim cursor, chunk size and work_mem), then upserts, per
session and per (UTC day, entity, model, provider), the call and error counts, cost, token sums
and first and last seen, into copies of the sessions and daily cost tables (same columns,
indexes and storage parameters). What it leaves out is what the product's fold adds on top: the earliest
event's entity and tags with their ranks, the models list, the daily tag table, and sums that
saturate instead of failing. The ratio of the two says how much of the drain's time is those
rules, on whatever machine the bench runs.
"""

import time
from collections.abc import Callable
from typing import Any

import psycopg

SESSIONS_COPY = "bench_baseline_sessions"
DAILY_COPY = "bench_baseline_daily"
_TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens")

_CHUNK = f"""
WITH claimed AS (
    DELETE FROM ingestion_pendingrollup
    WHERE organization_id = %(org)s AND ctid = ANY(ARRAY(
        SELECT ctid FROM (
            SELECT ctid FROM (
                SELECT ctid FROM ingestion_pendingrollup
                WHERE organization_id = %(org)s AND id <= %(up_to)s AND NOT %(sessions_done)s
                  AND (%(after)s::text IS NULL OR session_id >= %(after)s::text)
                ORDER BY organization_id, session_id, id LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ) with_session
            UNION ALL
            SELECT ctid FROM (
                SELECT ctid FROM ingestion_pendingrollup
                WHERE organization_id = %(org)s AND id <= %(up_to)s AND session_id IS NULL
                ORDER BY organization_id, session_id, id LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ) sessionless
        ) claim LIMIT %(limit)s
    ))
    RETURNING session_id, timestamp, model, provider, is_error, entity_type, entity_id,
              cost_nanos, {", ".join(_TOKENS)}
), per_session AS (
    INSERT INTO {SESSIONS_COPY} AS s (
        organization_id, session_id, turn_count, total_cost_nanos, {", ".join(_TOKENS)},
        first_seen, last_seen, error_count, tags, tag_ranks, models, updated_at)
    SELECT %(org)s, session_id, count(*), sum(cost_nanos),
           {", ".join(f"sum({t})" for t in _TOKENS)}, min(timestamp), max(timestamp),
           count(*) FILTER (WHERE is_error), '{{}}', '{{}}', '[]', now()
    FROM claimed WHERE session_id IS NOT NULL
    GROUP BY session_id ORDER BY session_id
    ON CONFLICT (organization_id, session_id) DO UPDATE SET
        turn_count = s.turn_count + EXCLUDED.turn_count,
        total_cost_nanos = s.total_cost_nanos + EXCLUDED.total_cost_nanos,
        {", ".join(f"{t} = s.{t} + EXCLUDED.{t}" for t in _TOKENS)},
        first_seen = LEAST(s.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
        error_count = s.error_count + EXCLUDED.error_count,
        updated_at = now()
    RETURNING 1
), per_day AS (
    INSERT INTO {DAILY_COPY} AS d (
        organization_id, day, entity_type, entity_id, model, provider, cost_nanos, call_count,
        {", ".join(_TOKENS)}, error_count)
    SELECT %(org)s, (timestamp AT TIME ZONE 'UTC')::date, coalesce(entity_type, ''),
           coalesce(entity_id, ''), model, provider, sum(cost_nanos), count(*),
           {", ".join(f"sum({t})" for t in _TOKENS)}, count(*) FILTER (WHERE is_error)
    FROM claimed
    GROUP BY 2, 3, 4, 5, 6 ORDER BY 2, 3, 4, 5, 6
    ON CONFLICT (organization_id, day, entity_type, entity_id, model, provider) DO UPDATE SET
        cost_nanos = d.cost_nanos + EXCLUDED.cost_nanos,
        call_count = d.call_count + EXCLUDED.call_count,
        {", ".join(f"{t} = d.{t} + EXCLUDED.{t}" for t in _TOKENS)},
        error_count = d.error_count + EXCLUDED.error_count
    RETURNING 1
)
SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM per_session),
       (SELECT count(*) FROM per_day), (SELECT max(session_id) FROM claimed),
       (SELECT coalesce(bool_or(session_id IS NULL), false) FROM claimed)
"""


def prepare(conn: psycopg.Connection[Any]) -> None:
    """Empty copies of the sessions and daily cost tables, as the product's are defined now."""
    for copy, original in ((SESSIONS_COPY, "llm_sessions_session"), (DAILY_COPY, "costs_daily")):
        conn.execute(f"DROP TABLE IF EXISTS {copy}")
        conn.execute(f"CREATE TABLE {copy} (LIKE {original} INCLUDING ALL)")
        row = conn.execute(
            "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE relname = %s",
            (original,),
        ).fetchone()
        if row and row[0]:  # fillfactor: the daily table's updates are HOT
            conn.execute(f"ALTER TABLE {copy} SET ({row[0]})")


def drain(
    conn: psycopg.Connection[Any],
    org_id: int,
    chunk: int,
    cpu_seconds: Callable[[int], float | None],
) -> tuple[int, float, float | None]:
    """Fold every pending row of the organization on `conn` (autocommit), one transaction per
    chunk, as the product's drain does. Returns (events, seconds, database backend CPU seconds
    or None), the CPU read by `cpu_seconds(backend pid)`."""
    row = conn.execute(
        "SELECT coalesce(max(id), 0) FROM ingestion_pendingrollup WHERE organization_id = %s",
        (org_id,),
    ).fetchone()
    params = {
        "org": org_id,
        "limit": chunk,
        "up_to": row[0] if row else 0,
        "after": None,
        "sessions_done": False,
    }
    pid = conn.info.backend_pid
    cpu_before = cpu_seconds(pid)
    events = 0
    started = time.perf_counter()
    while True:
        with conn.transaction():
            conn.execute("SET LOCAL work_mem = '32MB'")
            counts = conn.execute(_CHUNK, params).fetchone()
        assert counts is not None
        claimed, _sessions, _days, last_session, reached_sessionless = counts
        if not claimed:
            break
        events += claimed
        # The product's claim cursor (sessions/rollup/cursor.py), kept the same way.
        if last_session is not None:
            params["after"] = last_session
        params["sessions_done"] = params["sessions_done"] or reached_sessionless
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(pid)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return events, elapsed, cpu


def totals(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """(sessions, sum of turn counts, sum of session costs, sum of daily call counts, sum of
    daily costs): what the baseline folded."""
    row = conn.execute(
        f"SELECT (SELECT count(*) FROM {SESSIONS_COPY}), "
        f"(SELECT sum(turn_count) FROM {SESSIONS_COPY}), "
        f"(SELECT sum(total_cost_nanos) FROM {SESSIONS_COPY}), "
        f"(SELECT sum(call_count) FROM {DAILY_COPY}), (SELECT sum(cost_nanos) FROM {DAILY_COPY})"
    ).fetchone()
    assert row is not None
    return tuple(row)
