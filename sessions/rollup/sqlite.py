"""One rollup chunk on SQLite (the embedded default).

SQLite has a single writer, so there is no claim race to guard against: the chunk's pending
rows are read (in the same (organization, session) order as on PostgreSQL) and deleted, and
every session they touch is recomputed from all of its events in one set-based statement.
Recomputation is trivially order-independent, and embedded deployments are small enough that
re-reading a session's events is cheap. The entity and each tag come from the first event by
(timestamp, event_id), as on PostgreSQL; the cost total is summed by `exact_sum`
(sessions/sqlite_functions.py), which cannot overflow.
"""

from functools import cache

from django.db import connection
from django.utils import timezone

from ingestion.models import Event
from sessions.models import PendingRollup, Session

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


class SqliteRollup:
    """The embedded rollup: recompute every touched session from its events."""

    vendor = "sqlite"

    def rollup_chunk(
        self, *, organization_id: int | None, limit: int, up_to: int
    ) -> tuple[int, int]:
        queue = PendingRollup._meta.db_table
        scope = "AND organization_id = %s" if organization_id is not None else ""
        params = [organization_id] if organization_id is not None else []
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS temp.rollup_claimed")
            cursor.execute(
                "CREATE TEMP TABLE rollup_claimed AS "
                f"SELECT id, organization_id, session_id FROM {queue} "
                f"WHERE id <= %s {scope} ORDER BY organization_id, session_id, id LIMIT %s",
                [up_to, *params, limit],
            )
            cursor.execute("SELECT count(*) FROM rollup_claimed")
            (claimed,) = cursor.fetchone()
            if not claimed:
                return 0, 0
            cursor.execute("DROP TABLE IF EXISTS temp.rollup_touched")
            cursor.execute(
                "CREATE TEMP TABLE rollup_touched AS "
                "SELECT DISTINCT organization_id, session_id FROM rollup_claimed"
            )
            cursor.execute(_recompute_sql(), [now])
            cursor.execute("SELECT count(*) FROM rollup_touched")
            (touched,) = cursor.fetchone()
            cursor.execute(f"DELETE FROM {queue} WHERE id IN (SELECT id FROM rollup_claimed)")
        return int(claimed), int(touched)
