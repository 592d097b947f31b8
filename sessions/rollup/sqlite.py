"""One rollup chunk on SQLite (the embedded default).

SQLite has a single writer, so there is no claim race to guard against: the chunk's pending
rows are read (in the same (organization, session) order as on PostgreSQL) and deleted, and
every session and every (organization, UTC day) of the daily cost table and of the daily tag
cost table (sessions/rollup/tag_daily.py) they touch is recomputed from all of its events in
set-based statements.
Recomputation is trivially order-independent, and embedded deployments are small enough that
re-reading a session's events is cheap. The entity and each tag come from the first event by
(timestamp, event_id), as on PostgreSQL; the cost total is summed by `exact_sum`
(sessions/sqlite_functions.py), which cannot overflow.
"""

from functools import cache
from typing import Any

from django.db import connection
from django.utils import timezone

from ingestion.models import Event
from sessions.models import DailyCost, PendingRollup, Session
from sessions.rollup import tag_daily
from sessions.rollup.cursor import START, ChunkResult, ClaimCursor

_FIRST = "ORDER BY x.timestamp, x.event_id"  # the rule of SPEC section 9, BINARY collation


@cache
def _recompute_sql() -> str:
    events = Event._meta.db_table
    sessions = Session._meta.db_table
    same_session = "x.organization_id = e.organization_id AND x.session_id = e.session_id"
    return f"""
INSERT INTO {sessions} (
    organization_id, session_id, entity_type, entity_id, entity_rank, turn_count,
    total_cost_nanos, input_tokens, output_tokens, cached_input_tokens, first_seen, last_seen,
    error_count, models, tags, tag_ranks, updated_at)
SELECT e.organization_id, e.session_id,
    (SELECT x.entity_type FROM {events} x
     WHERE {same_session} AND x.entity_type IS NOT NULL {_FIRST} LIMIT 1),
    (SELECT x.entity_id FROM {events} x
     WHERE {same_session} AND x.entity_type IS NOT NULL {_FIRST} LIMIT 1),
    NULL,
    count(*), exact_sum(e.cost_nanos), sum(e.input_tokens), sum(e.output_tokens),
    sum(e.cached_input_tokens), min(e.timestamp), max(e.timestamp),
    sum(e.status = 'error'),
    (SELECT json_group_array(model) FROM (
        SELECT DISTINCT x.model FROM {events} x WHERE {same_session} ORDER BY x.model)),
    (SELECT coalesce(json_group_object(key, value), '{{}}') FROM (
        SELECT j.key, j.value,
               row_number() OVER (PARTITION BY j.key {_FIRST}) AS n
        FROM {events} x, json_each(x.tags) j WHERE {same_session})
     WHERE n = 1),
    '{{}}', %s
FROM {events} e
JOIN rollup_touched t ON t.organization_id = e.organization_id AND t.session_id = e.session_id
GROUP BY e.organization_id, e.session_id
ON CONFLICT (organization_id, session_id) DO UPDATE SET
    entity_type = excluded.entity_type, entity_id = excluded.entity_id,
    turn_count = excluded.turn_count, total_cost_nanos = excluded.total_cost_nanos,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    cached_input_tokens = excluded.cached_input_tokens, first_seen = excluded.first_seen,
    last_seen = excluded.last_seen, error_count = excluded.error_count,
    models = excluded.models, tags = excluded.tags, updated_at = excluded.updated_at
"""


@cache
def _recompute_days_sql() -> tuple[str, str]:
    """Delete, then rebuild from the events, the daily rows of the days in rollup_days."""
    events = Event._meta.db_table
    daily = DailyCost._meta.db_table
    delete = (
        f"DELETE FROM {daily} WHERE EXISTS (SELECT 1 FROM rollup_days t "
        f"WHERE t.organization_id = {daily}.organization_id AND t.day = {daily}.day)"
    )
    # Django stores SQLite datetimes as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]': a day's events
    # are a range of that text, served by the (organization, timestamp) index. Events still
    # pending (temp.rollup_unfolded) stay out: reports add the queue to the table, so each
    # event must be in exactly one of them.
    insert = f"""
INSERT INTO {daily} (
    organization_id, day, entity_type, entity_id, model, provider, cost_nanos, call_count,
    input_tokens, output_tokens, cached_input_tokens, error_count)
SELECT e.organization_id, t.day, coalesce(e.entity_type, ''), coalesce(e.entity_id, ''),
    e.model, e.provider, exact_sum(e.cost_nanos), count(*), sum(e.input_tokens),
    sum(e.output_tokens), sum(e.cached_input_tokens), sum(e.status = 'error')
FROM rollup_days t JOIN {events} e ON e.organization_id = t.organization_id
    AND e.timestamp >= t.day AND e.timestamp < date(t.day, '+1 day')
WHERE NOT EXISTS (SELECT 1 FROM rollup_unfolded u WHERE u.event_pk = e.id)
GROUP BY e.organization_id, t.day, coalesce(e.entity_type, ''), coalesce(e.entity_id, ''),
    e.model, e.provider
"""
    return delete, insert


def recompute_touched(cursor: Any) -> int:
    """Recompute the sessions in temp.rollup_touched (organization_id, session_id) and the
    days in temp.rollup_days (organization_id, day), the days without the events still in the
    queue (call it after deleting the folded rows); returns how many sessions. Shared by the
    rollup and re-pricing (sessions/reprice.py)."""
    queue = PendingRollup._meta.db_table
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    cursor.execute(_recompute_sql(), [now])
    cursor.execute("DROP TABLE IF EXISTS temp.rollup_unfolded")
    cursor.execute("CREATE TEMP TABLE rollup_unfolded (event_pk INTEGER PRIMARY KEY)")
    cursor.execute(
        f"INSERT OR IGNORE INTO rollup_unfolded SELECT q.event_pk FROM {queue} q "
        "JOIN rollup_days t ON t.organization_id = q.organization_id "
        "AND q.timestamp >= t.day AND q.timestamp < date(t.day, '+1 day')"
    )
    for statement in (*_recompute_days_sql(), *tag_daily.sqlite_recompute_days()):
        cursor.execute(statement)
    cursor.execute("SELECT count(*) FROM rollup_touched")
    (touched,) = cursor.fetchone()
    return int(touched)


def create_touched_tables(cursor: Any, sessions_sql: str, days_sql: str, params: Any) -> None:
    """temp.rollup_touched and temp.rollup_days from two SELECTs (sharing `params`)."""
    cursor.execute("DROP TABLE IF EXISTS temp.rollup_touched")
    cursor.execute(f"CREATE TEMP TABLE rollup_touched AS {sessions_sql}", params)
    cursor.execute("DROP TABLE IF EXISTS temp.rollup_days")
    cursor.execute(f"CREATE TEMP TABLE rollup_days AS {days_sql}", params)


class SqliteRollup:
    """The embedded rollup: recompute every touched session and day from its events."""

    vendor = "sqlite"

    def rollup_chunk(
        self, *, organization_id: int, limit: int, up_to: int, cursor: ClaimCursor = START
    ) -> ChunkResult:
        """Claims from the queue's start and returns the cursor as given: SQLite removes deleted
        rows from its b-trees at once, so there are no dead entries to walk past."""
        queue = PendingRollup._meta.db_table
        with connection.cursor() as db:
            db.execute("DROP TABLE IF EXISTS temp.rollup_claimed")
            db.execute(
                "CREATE TEMP TABLE rollup_claimed AS "
                f"SELECT id, organization_id, session_id, date(timestamp) AS day FROM {queue} "
                "WHERE organization_id = %s AND id <= %s "
                "ORDER BY organization_id, session_id, id LIMIT %s",
                [organization_id, up_to, limit],
            )
            db.execute("SELECT count(*) FROM rollup_claimed")
            (claimed,) = db.fetchone()
            if not claimed:
                return ChunkResult(0, 0, cursor)
            create_touched_tables(
                db,
                "SELECT DISTINCT organization_id, session_id FROM rollup_claimed "
                "WHERE session_id IS NOT NULL",
                "SELECT DISTINCT organization_id, day FROM rollup_claimed",
                [],
            )
            db.execute(f"DELETE FROM {queue} WHERE id IN (SELECT id FROM rollup_claimed)")
            touched = recompute_touched(db)
        return ChunkResult(int(claimed), touched, cursor)
