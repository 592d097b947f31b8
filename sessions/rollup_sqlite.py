"""One rollup chunk on SQLite (the embedded default).

SQLite has a single writer, so there is no claim race to guard against: the chunk's pending
rows are read (in the same (organization, session) order as on PostgreSQL) and deleted, and
every session they touch is recomputed from all of its events in one set-based statement.
Recomputation is trivially order-independent, and embedded deployments are small enough that
re-reading a session's events is cheap.
"""

from django.db import connection
from django.utils import timezone

_RECOMPUTE = """
INSERT INTO llm_sessions_session (
    organization_id, session_id, entity_type, entity_id, entity_rank, turn_count,
    total_cost_nanos, input_tokens, output_tokens, cached_input_tokens, first_seen, last_seen,
    error_count, models, tags, tag_ranks, updated_at)
SELECT e.organization_id, e.session_id,
    (SELECT x.entity_type FROM ingestion_event x
     WHERE x.organization_id = e.organization_id AND x.session_id = e.session_id
       AND x.entity_type IS NOT NULL ORDER BY x.timestamp, x.id LIMIT 1),
    (SELECT x.entity_id FROM ingestion_event x
     WHERE x.organization_id = e.organization_id AND x.session_id = e.session_id
       AND x.entity_type IS NOT NULL ORDER BY x.timestamp, x.id LIMIT 1),
    NULL,
    count(*), sum(e.cost_nanos), sum(e.input_tokens), sum(e.output_tokens),
    sum(e.cached_input_tokens), min(e.timestamp), max(e.timestamp),
    sum(e.status = 'error'),
    (SELECT json_group_array(model) FROM (
        SELECT DISTINCT x.model FROM ingestion_event x
        WHERE x.organization_id = e.organization_id AND x.session_id = e.session_id
        ORDER BY x.model)),
    (SELECT coalesce(json_group_object(key, value), '{}') FROM (
        SELECT j.key, j.value,
               row_number() OVER (PARTITION BY j.key ORDER BY x.timestamp, x.id) AS n
        FROM ingestion_event x, json_each(x.tags) j
        WHERE x.organization_id = e.organization_id AND x.session_id = e.session_id)
     WHERE n = 1),
    '{}', %s
FROM ingestion_event e
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


def rollup_chunk(*, organization_id: int | None, limit: int, up_to: int) -> tuple[int, int]:
    """Fold one chunk; returns (events claimed, sessions touched)."""
    scope = "AND organization_id = %s" if organization_id is not None else ""
    params = [organization_id] if organization_id is not None else []
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS temp.rollup_claimed")
        cursor.execute(
            "CREATE TEMP TABLE rollup_claimed AS "
            "SELECT id, organization_id, session_id FROM ingestion_pendingrollup "
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
        cursor.execute(_RECOMPUTE, [now])
        cursor.execute("SELECT count(*) FROM rollup_touched")
        (touched,) = cursor.fetchone()
        cursor.execute(
            "DELETE FROM ingestion_pendingrollup WHERE id IN (SELECT id FROM rollup_claimed)"
        )
    return int(claimed), int(touched)
