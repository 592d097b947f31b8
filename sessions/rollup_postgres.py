"""One rollup chunk on PostgreSQL, as a single statement.

Claims up to `limit` pending rows (FOR UPDATE SKIP LOCKED, so concurrent workers never share
one), deletes them, aggregates their events per session and merges the result into the
aggregates with an order-independent upsert. Run inside a transaction: a crash rolls back the
delete with everything else and the events are still pending for the next run.

The merge is commutative and associative, so any split of the events into chunks, in any order,
ends at the same aggregate as a recomputation:
- counts and sums add (saturating at the bigint maximum rather than failing the chunk);
- first_seen/last_seen are least/greatest;
- entity and each tag come from the event with the smallest rank (timestamp, then event pk),
  and the rank is stored beside them so a later chunk with an earlier event can replace them;
- models is the sorted union, in code point order (COLLATE "C") like SQLite's and Python's
  sort, whatever the database's default collation.
"""

from django.db import connection

# Sort key of an event: fixed-width UTC timestamp, then the zero-padded primary key.
_RANK = "to_char(e.timestamp AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || lpad(e.id::text, 20, '0')"
_BIGINT_MAX = "9223372036854775807"


def _add(column: str) -> str:
    return f"{column} = LEAST(s.{column}::numeric + EXCLUDED.{column}, {_BIGINT_MAX})::bigint"


def _take_earlier(column: str) -> str:
    return (
        f"{column} = CASE WHEN EXCLUDED.entity_rank IS NOT NULL AND "
        f"(s.entity_rank IS NULL OR EXCLUDED.entity_rank < s.entity_rank) "
        f"THEN EXCLUDED.{column} ELSE s.{column} END"
    )


def _merge_tags(part: str) -> str:
    """Per key, the value (part='value') or rank (part='rank') with the smaller rank."""
    return f"""
        CASE WHEN EXCLUDED.tags = '{{}}'::jsonb THEN s.{"tags" if part == "value" else "tag_ranks"}
        ELSE (
            SELECT coalesce(jsonb_object_agg(key, {part}), '{{}}'::jsonb) FROM (
                SELECT DISTINCT ON (key) key, value, rank FROM (
                    SELECT t.key, t.value, s.tag_ranks ->> t.key AS rank FROM jsonb_each(s.tags) t
                    UNION ALL
                    SELECT t.key, t.value, EXCLUDED.tag_ranks ->> t.key
                    FROM jsonb_each(EXCLUDED.tags) t
                ) both_sides ORDER BY key, rank
            ) firsts
        ) END"""


def _statement(scoped: bool) -> str:
    scope = "WHERE organization_id = %(org)s" if scoped else ""
    sums = [
        "turn_count",
        "total_cost_nanos",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "error_count",
    ]
    return f"""
WITH claimed AS (
    DELETE FROM ingestion_pendingrollup
    WHERE id IN (
        SELECT id FROM ingestion_pendingrollup {scope}
        ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING event_pk
), ev AS (
    -- One primary-key probe per claimed event. OFFSET 0 keeps the planner from turning this
    -- into a hash join that reads the whole events table for a chunk of a few thousand rows.
    SELECT e.* FROM claimed c CROSS JOIN LATERAL (
        SELECT e.id, e.organization_id, e.session_id, e.timestamp, e.model, e.status,
               e.cost_nanos, e.input_tokens, e.output_tokens, e.cached_input_tokens,
               e.entity_type, e.entity_id, e.tags, {_RANK} AS rank
        FROM ingestion_event e WHERE e.id = c.event_pk OFFSET 0
    ) e
), per_session AS (
    SELECT organization_id, session_id,
           count(*) AS turn_count,
           LEAST(sum(cost_nanos), {_BIGINT_MAX})::bigint AS total_cost_nanos,
           LEAST(sum(input_tokens), {_BIGINT_MAX})::bigint AS input_tokens,
           LEAST(sum(output_tokens), {_BIGINT_MAX})::bigint AS output_tokens,
           LEAST(sum(cached_input_tokens), {_BIGINT_MAX})::bigint AS cached_input_tokens,
           min(timestamp) AS first_seen,
           max(timestamp) AS last_seen,
           count(*) FILTER (WHERE status = 'error') AS error_count,
           jsonb_agg(DISTINCT model COLLATE "C" ORDER BY model COLLATE "C") AS models,
           (array_agg(entity_type ORDER BY rank) FILTER (WHERE entity_type IS NOT NULL))[1]
               AS entity_type,
           (array_agg(entity_id ORDER BY rank) FILTER (WHERE entity_type IS NOT NULL))[1]
               AS entity_id,
           min(rank) FILTER (WHERE entity_type IS NOT NULL) AS entity_rank
    FROM ev GROUP BY organization_id, session_id
), tag_firsts AS (
    SELECT DISTINCT ON (ev.organization_id, ev.session_id, t.key)
           ev.organization_id, ev.session_id, t.key, t.value, ev.rank
    FROM ev CROSS JOIN LATERAL jsonb_each(ev.tags) t
    WHERE ev.tags <> '{{}}'::jsonb
    ORDER BY ev.organization_id, ev.session_id, t.key, ev.rank
), per_session_tags AS (
    SELECT organization_id, session_id,
           jsonb_object_agg(key, value) AS tags, jsonb_object_agg(key, rank) AS tag_ranks
    FROM tag_firsts GROUP BY organization_id, session_id
), upserted AS (
    INSERT INTO llm_sessions_session AS s (
        organization_id, session_id, entity_type, entity_id, entity_rank, turn_count,
        total_cost_nanos, input_tokens, output_tokens, cached_input_tokens, first_seen,
        last_seen, error_count, models, tags, tag_ranks, updated_at)
    SELECT p.organization_id, p.session_id, p.entity_type, p.entity_id, p.entity_rank,
           p.turn_count, p.total_cost_nanos, p.input_tokens, p.output_tokens,
           p.cached_input_tokens, p.first_seen, p.last_seen, p.error_count, p.models,
           coalesce(t.tags, '{{}}'::jsonb), coalesce(t.tag_ranks, '{{}}'::jsonb), now()
    FROM per_session p
    LEFT JOIN per_session_tags t USING (organization_id, session_id)
    -- One lock order for every worker: concurrent chunks touching the same sessions queue
    -- instead of deadlocking.
    ORDER BY p.organization_id, p.session_id
    ON CONFLICT (organization_id, session_id) DO UPDATE SET
        {", ".join(_add(c) for c in sums)},
        first_seen = LEAST(s.first_seen, EXCLUDED.first_seen),
        last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
        models = CASE WHEN s.models @> EXCLUDED.models THEN s.models ELSE (
            SELECT jsonb_agg(DISTINCT m COLLATE "C" ORDER BY m COLLATE "C")
            FROM jsonb_array_elements_text(s.models || EXCLUDED.models) m) END,
        {_take_earlier("entity_type")},
        {_take_earlier("entity_id")},
        {_take_earlier("entity_rank")},
        tags = {_merge_tags("value")},
        tag_ranks = {_merge_tags("rank")},
        updated_at = now()
    RETURNING 1
)
SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM upserted)
"""


_SCOPED = _statement(scoped=True)
_ALL = _statement(scoped=False)


def rollup_chunk(*, organization_id: int | None, limit: int) -> tuple[int, int]:
    """Fold one chunk; returns (events claimed, sessions touched)."""
    sql = _ALL if organization_id is None else _SCOPED
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": organization_id, "limit": limit})
        claimed, sessions = cursor.fetchone()
    return int(claimed), int(sessions)
