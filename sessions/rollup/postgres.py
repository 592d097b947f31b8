"""One rollup chunk on PostgreSQL, as a single statement.

Claims up to `limit` pending rows of one organization (FOR UPDATE SKIP LOCKED, so concurrent
workers never share one), deletes them, aggregates them per session and per (UTC day, entity,
model, provider), and merges the results into the session aggregates and the daily cost table
with order-independent upserts. Run inside a transaction: a crash rolls back the delete with
everything else and the events are still pending for the next run.

The pending rows carry the columns the rollup needs (written from the events insert's
RETURNING), so a chunk never reads the wide events table. Claims go in (organization, session)
order, so a chunk holds whole sessions and each session is upserted about once per drain however
its events interleave with others'; `up_to` bounds a drain to the rows pending when it started,
so sessions late in that order cannot be starved by new arrivals.

The merge is commutative and associative, so any split of the events into chunks, in any order,
ends at the same aggregate as a recomputation:
- counts and token sums add (saturating at the bigint maximum, out of reach in practice, rather
  than failing the chunk); the cost total is NUMERIC and adds exactly, whatever its size;
- first_seen/last_seen are least/greatest;
- entity and each tag come from the event with the smallest rank, (timestamp, event_id), and
  the rank is stored beside them so a later chunk with an earlier event can replace them;
- models is the sorted union, in code point order (COLLATE "C") like SQLite's and Python's
  sort, whatever the database's default collation.
"""

from functools import cache

from django.db import connection

from sessions.models import DailyCost, PendingRollup, Session
from sessions.rollup import tag_daily

# An event's rank is one string that sorts like (timestamp, event_id), compared COLLATE "C":
#   TIMESTAMP_WIDTH characters of UTC time (microseconds included), fixed width;
#   the event_id's UTF-8 bytes in hex: byte order is code point order, SQLite's and Python's;
#   RANK_END, which sorts before every hex digit, so an id that is a prefix of another sorts
#   first, and which never occurs earlier in the string, so a packed key can be split there.
TIMESTAMP_FORMAT = "YYYYMMDDHH24MISSUS"
TIMESTAMP_WIDTH = 20
RANK_END = "."
RANK = (
    f"to_char(timestamp AT TIME ZONE 'UTC', '{TIMESTAMP_FORMAT}') "
    f"|| encode(convert_to(event_id, 'UTF8'), 'hex') || '{RANK_END}'"
)
# The entity key packs rank, then the entity_type's length in TYPE_LENGTH_WIDTH digits
# (entity_type is at most 128 characters), then entity_type and entity_id: its minimum is the
# earliest event's entity, found without an ordered aggregate.
TYPE_LENGTH_WIDTH = 3
_BIGINT_MAX = "9223372036854775807"
_SATURATING_SUMS = (
    "turn_count", "input_tokens", "output_tokens", "cached_input_tokens", "error_count",
)  # fmt: skip


def _add_saturating(column: str) -> str:
    return f"{column} = LEAST(s.{column}::numeric + EXCLUDED.{column}, {_BIGINT_MAX})::bigint"


def _take_earlier(column: str) -> str:
    return (
        f"{column} = CASE WHEN EXCLUDED.entity_rank IS NOT NULL AND "
        f'(s.entity_rank IS NULL OR EXCLUDED.entity_rank < s.entity_rank COLLATE "C") '
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
                ) both_sides ORDER BY key, rank COLLATE "C"
            ) firsts
        ) END"""


_DAILY_KEY = "organization_id, day, entity_type, entity_id, model, provider"
_DAILY_SUMS = ("call_count", "input_tokens", "output_tokens", "cached_input_tokens", "error_count")


def _statement() -> str:
    queue = PendingRollup._meta.db_table
    sessions = Session._meta.db_table
    daily = DailyCost._meta.db_table
    width = TYPE_LENGTH_WIDTH
    return f"""
WITH claimed AS (
    -- ARRAY(...) runs the claim once and lets the delete probe the primary key, instead of
    -- a semi-join that reads the whole queue.
    DELETE FROM {queue}
    WHERE organization_id = %(org)s AND id = ANY(ARRAY(
        SELECT id FROM {queue}
        WHERE organization_id = %(org)s AND id <= %(up_to)s
        ORDER BY organization_id, session_id, id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING *, {RANK} AS rank
), per_day AS (
    -- Every claimed event, sessionless ones too. "" stands for no entity (DailyCost).
    SELECT organization_id, (timestamp AT TIME ZONE 'UTC')::date AS day,
           coalesce(entity_type, '') AS entity_type, coalesce(entity_id, '') AS entity_id,
           model, provider,
           sum(cost_nanos) AS cost_nanos,
           count(*) AS call_count,
           LEAST(sum(input_tokens), {_BIGINT_MAX})::bigint AS input_tokens,
           LEAST(sum(output_tokens), {_BIGINT_MAX})::bigint AS output_tokens,
           LEAST(sum(cached_input_tokens), {_BIGINT_MAX})::bigint AS cached_input_tokens,
           count(*) FILTER (WHERE is_error) AS error_count
    FROM claimed GROUP BY {_DAILY_KEY}
), daily AS (
    INSERT INTO {daily} AS s ({_DAILY_KEY}, cost_nanos, {", ".join(_DAILY_SUMS)})
    SELECT {_DAILY_KEY}, cost_nanos, {", ".join(_DAILY_SUMS)} FROM per_day
    ORDER BY {_DAILY_KEY}  -- one lock order for every writer, as for the sessions
    ON CONFLICT ({_DAILY_KEY}) DO UPDATE SET
        cost_nanos = s.cost_nanos + EXCLUDED.cost_nanos,
        {", ".join(_add_saturating(c) for c in _DAILY_SUMS)}
    RETURNING 1
), {tag_daily.postgres_ctes()}per_session AS (
    SELECT organization_id, session_id,
           count(*) AS turn_count,
           sum(cost_nanos) AS total_cost_nanos,  -- NUMERIC: exact for any number of events
           LEAST(sum(input_tokens), {_BIGINT_MAX})::bigint AS input_tokens,
           LEAST(sum(output_tokens), {_BIGINT_MAX})::bigint AS output_tokens,
           LEAST(sum(cached_input_tokens), {_BIGINT_MAX})::bigint AS cached_input_tokens,
           min(timestamp) AS first_seen,
           max(timestamp) AS last_seen,
           count(*) FILTER (WHERE is_error) AS error_count,
           jsonb_agg(DISTINCT model COLLATE "C" ORDER BY model COLLATE "C") AS models,
           -- NULL, and so skipped, for events without an entity.
           min(rank || lpad(length(entity_type)::text, {width}, '0') || entity_type || entity_id
               COLLATE "C") AS entity_key
    FROM claimed WHERE session_id IS NOT NULL GROUP BY organization_id, session_id
), tag_sets AS (
    -- Calls of a session usually repeat the same tags: expand each distinct set once.
    SELECT organization_id, session_id, tags, min(rank COLLATE "C") AS rank
    FROM claimed WHERE tags IS NOT NULL AND session_id IS NOT NULL
    GROUP BY organization_id, session_id, tags
), tag_firsts AS (
    SELECT DISTINCT ON (ts.organization_id, ts.session_id, t.key)
           ts.organization_id, ts.session_id, t.key, t.value, ts.rank
    FROM tag_sets ts CROSS JOIN LATERAL jsonb_each(ts.tags) t
    ORDER BY ts.organization_id, ts.session_id, t.key, ts.rank COLLATE "C"
), per_session_tags AS (
    SELECT organization_id, session_id,
           jsonb_object_agg(key, value) AS tags, jsonb_object_agg(key, rank) AS tag_ranks
    FROM tag_firsts GROUP BY organization_id, session_id
), upserted AS (
    INSERT INTO {sessions} AS s (
        organization_id, session_id, entity_type, entity_id, entity_rank, turn_count,
        total_cost_nanos, input_tokens, output_tokens, cached_input_tokens, first_seen,
        last_seen, error_count, models, tags, tag_ranks, updated_at)
    SELECT p.organization_id, p.session_id,
           substr(p.entity_key, k.rank_end + {width} + 1, k.type_length),
           substr(p.entity_key, k.rank_end + {width} + 1 + k.type_length),
           left(p.entity_key, k.rank_end),
           p.turn_count, p.total_cost_nanos, p.input_tokens, p.output_tokens,
           p.cached_input_tokens, p.first_seen, p.last_seen, p.error_count, p.models,
           coalesce(t.tags, '{{}}'::jsonb), coalesce(t.tag_ranks, '{{}}'::jsonb), now()
    FROM per_session p
    -- Unpack the entity key: the rank ends at the first RANK_END, the type's length follows.
    CROSS JOIN LATERAL (SELECT strpos(p.entity_key, '{RANK_END}') AS rank_end) r
    CROSS JOIN LATERAL (
        SELECT r.rank_end, substr(p.entity_key, r.rank_end + 1, {width})::int AS type_length
    ) k
    LEFT JOIN per_session_tags t USING (organization_id, session_id)
    -- One lock order for every worker: concurrent chunks touching the same sessions queue
    -- instead of deadlocking.
    ORDER BY p.organization_id, p.session_id
    ON CONFLICT (organization_id, session_id) DO UPDATE SET
        {", ".join(_add_saturating(c) for c in _SATURATING_SUMS)},
        total_cost_nanos = s.total_cost_nanos + EXCLUDED.total_cost_nanos,
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
SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM upserted),
       (SELECT count(*) FROM daily)
"""


@cache
def _sql() -> str:
    return _statement()


class PostgresRollup:
    """The production rollup: claim, aggregate and merge, one statement per chunk."""

    vendor = "postgresql"

    def rollup_chunk(self, *, organization_id: int, limit: int, up_to: int) -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(_sql(), {"org": organization_id, "limit": limit, "up_to": up_to})
            claimed, sessions, _days = cursor.fetchone()
        return int(claimed), int(sessions)
