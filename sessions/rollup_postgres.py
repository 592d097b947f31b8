"""One rollup chunk on PostgreSQL, as a single statement.

Claims up to `limit` pending rows (FOR UPDATE SKIP LOCKED, so concurrent workers never share
one), deletes them, aggregates them per session and merges the result into the aggregates with
an order-independent upsert. Run inside a transaction: a crash rolls back the delete with
everything else and the events are still pending for the next run.

The pending rows carry the columns the rollup needs (written from the events insert's
RETURNING), so a chunk never reads the wide events table. Claims go in (organization, session)
order, so a chunk holds whole sessions and each session is upserted about once per drain however
its events interleave with others'; `up_to` bounds a drain to the rows pending when it started,
so sessions late in that order cannot be starved by new arrivals.

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
_RANK = (
    "to_char(timestamp AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') || lpad(event_pk::text, 20, '0')"
)
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
    scope = "AND organization_id = %(org)s" if scoped else ""
    sums = ["turn_count", "total_cost_nanos", "input_tokens", "output_tokens",
            "cached_input_tokens", "error_count"]  # fmt: skip
    return f"""
WITH claimed AS (
    -- ARRAY(...) runs the claim once and lets the delete probe the primary key, instead of
    -- a semi-join that reads the whole queue.
    DELETE FROM ingestion_pendingrollup
    WHERE id = ANY(ARRAY(
        SELECT id FROM ingestion_pendingrollup
        WHERE id <= %(up_to)s {scope}
        ORDER BY organization_id, session_id, id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING *, {_RANK} AS rank
), per_session AS (
    SELECT organization_id, session_id,
           count(*) AS turn_count,
           LEAST(sum(cost_nanos), {_BIGINT_MAX})::bigint AS total_cost_nanos,
           LEAST(sum(input_tokens), {_BIGINT_MAX})::bigint AS input_tokens,
           LEAST(sum(output_tokens), {_BIGINT_MAX})::bigint AS output_tokens,
           LEAST(sum(cached_input_tokens), {_BIGINT_MAX})::bigint AS cached_input_tokens,
           min(timestamp) AS first_seen,
           max(timestamp) AS last_seen,
           count(*) FILTER (WHERE is_error) AS error_count,
           jsonb_agg(DISTINCT model COLLATE "C" ORDER BY model COLLATE "C") AS models,
           -- The earliest entity without an ordered aggregate: the rank is fixed-width and
           -- unique, so the smallest "rank, length of type, type, id" string is the earliest
           -- event's (NULL, and so skipped, for events without an entity).
           min(rank || lpad(length(entity_type)::text, 3, '0') || entity_type || entity_id
               COLLATE "C") AS entity_key
    FROM claimed GROUP BY organization_id, session_id
), tag_sets AS (
    -- Calls of a session usually repeat the same tags: expand each distinct set once.
    SELECT organization_id, session_id, tags, min(rank) AS rank
    FROM claimed WHERE tags IS NOT NULL
    GROUP BY organization_id, session_id, tags
), tag_firsts AS (
    SELECT DISTINCT ON (ts.organization_id, ts.session_id, t.key)
           ts.organization_id, ts.session_id, t.key, t.value, ts.rank
    FROM tag_sets ts CROSS JOIN LATERAL jsonb_each(ts.tags) t
    ORDER BY ts.organization_id, ts.session_id, t.key, ts.rank
), per_session_tags AS (
    SELECT organization_id, session_id,
           jsonb_object_agg(key, value) AS tags, jsonb_object_agg(key, rank) AS tag_ranks
    FROM tag_firsts GROUP BY organization_id, session_id
), upserted AS (
    INSERT INTO llm_sessions_session AS s (
        organization_id, session_id, entity_type, entity_id, entity_rank, turn_count,
        total_cost_nanos, input_tokens, output_tokens, cached_input_tokens, first_seen,
        last_seen, error_count, models, tags, tag_ranks, updated_at)
    SELECT p.organization_id, p.session_id,
           substr(p.entity_key, 44, substr(p.entity_key, 41, 3)::int),
           substr(p.entity_key, 44 + substr(p.entity_key, 41, 3)::int),
           substr(p.entity_key, 1, 40),
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


def rollup_chunk(*, organization_id: int | None, limit: int, up_to: int) -> tuple[int, int]:
    """Fold one chunk; returns (events claimed, sessions touched)."""
    sql = _ALL if organization_id is None else _SCOPED
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": organization_id, "limit": limit, "up_to": up_to})
        claimed, sessions = cursor.fetchone()
    return int(claimed), int(sessions)
