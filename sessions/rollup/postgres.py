"""One rollup chunk on PostgreSQL, as a single statement.

Claims up to `limit` pending rows of one organization (FOR UPDATE SKIP LOCKED, so concurrent
workers never share one), deletes them, aggregates them once per (session, UTC day, entity,
model, provider, tags), sums those groups per session and per (UTC day, entity, model,
provider), and merges the results into the session aggregates and the daily cost table with
order-independent upserts. Run inside a transaction: a crash rolls back the delete with
everything else and the events are still pending for the next run.

The pending rows carry the columns the rollup needs (written from the events insert's
RETURNING), so a chunk never reads the wide events table. Claims go in (organization, session)
order, so a chunk holds whole sessions and each session is upserted about once per drain however
its events interleave with others'; `up_to` bounds a drain to the rows pending when it started,
so sessions late in that order cannot be starved by new arrivals.

The merge is commutative and associative, so any split of the events into chunks, in any order,
ends at the same aggregate as a recomputation:
- counts and token sums add (saturating at the bigint maximum, out of reach in practice, rather
  than failing the chunk; tokens are never negative, so saturating per group and again per
  session or day is the same as saturating the whole sum); the cost total is NUMERIC and adds
  exactly, whatever its size;
- first_seen/last_seen are least/greatest;
- entity and each tag come from the event with the smallest rank, (timestamp, event_id), and
  the rank is stored beside them so a later chunk with an earlier event can replace them (a
  chunk finds each group's earliest event by comparing bytes and writes the rank string, the
  same string RANK gives that event, once per group);
- models is the sorted union, in code point order (COLLATE "C") like SQLite's and Python's
  sort, whatever the database's default collation.
"""

from functools import cache

from django.db import connection

from sessions.models import DailyCost, PendingRollup, Session
from sessions.rollup import tag_daily
from sessions.rollup.cursor import START, ChunkResult, ClaimCursor

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
_EARLIEST_TS_HEX = 16  # timestamptz_send's 8 bytes, in hex
_BIGINT_MAX = "9223372036854775807"
_SATURATING_SUMS = (
    "turn_count", "input_tokens", "output_tokens", "cached_input_tokens", "error_count",
)  # fmt: skip


def _add_saturating(column: str) -> str:
    # The same as LEAST(s.column::numeric + EXCLUDED.column, max)::bigint, in bigint arithmetic:
    # max - GREATEST(x, 0) cannot overflow, and when the sum would pass max it is not computed.
    return (
        f"{column} = CASE WHEN s.{column} > {_BIGINT_MAX} - GREATEST(EXCLUDED.{column}, 0) "
        f"THEN {_BIGINT_MAX} ELSE s.{column} + EXCLUDED.{column} END"
    )


def _saturated_sum(expression: str) -> str:
    return f"LEAST(sum({expression}), {_BIGINT_MAX})::bigint"


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
# The daily key of a group, text in code point order (COLLATE "C"): equal where the default
# collation is equal, and the order the daily rows are locked in.
_DAILY_GROUP = (
    "day, coalesce(entity_type, '') COLLATE \"C\", coalesce(entity_id, '') COLLATE \"C\", "
    'model COLLATE "C", provider COLLATE "C"'
)


def _statement() -> str:
    queue = PendingRollup._meta.db_table
    sessions = Session._meta.db_table
    daily = DailyCost._meta.db_table
    width = TYPE_LENGTH_WIDTH
    return f"""
WITH claimed AS (
    -- ARRAY(...) runs the claim once, in (organization, session) order, and the delete fetches
    -- the locked rows by their ctid (the row lock pins them: no index probes). The delete's
    -- RETURNING, not the claim, is what gets folded: a row the delete does not see (a version
    -- committed after this statement's snapshot) is neither folded nor deleted, and stays
    -- pending. Only the columns the folds read: no id, no rank yet.
    -- The claim resumes at the drain's cursor (ClaimCursor): the rows with sessions at or after
    -- it, then the sessionless rows (NULL sorts last in the index). Without it every claim
    -- would walk the index entries of the rows this drain already deleted.
    DELETE FROM {queue}
    WHERE organization_id = %(org)s AND ctid = ANY(ARRAY(
        SELECT ctid FROM (
            SELECT ctid FROM (
                SELECT ctid FROM {queue}
                WHERE organization_id = %(org)s AND id <= %(up_to)s AND NOT %(sessions_done)s
                  AND (%(after)s::text IS NULL OR session_id >= %(after)s::text)
                ORDER BY organization_id, session_id, id LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ) with_session
            UNION ALL
            SELECT ctid FROM (
                SELECT ctid FROM {queue}
                WHERE organization_id = %(org)s AND id <= %(up_to)s AND session_id IS NULL
                ORDER BY organization_id, session_id, id LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            ) sessionless
        ) claim LIMIT %(limit)s
    ))
    RETURNING session_id, timestamp, event_id, model, provider, is_error, entity_type,
              entity_id, cost_nanos, input_tokens, output_tokens, cached_input_tokens, tags
), grouped AS MATERIALIZED (
    -- The claimed events aggregated once, per (session, UTC day, entity, model, provider,
    -- tags): both the daily rows and the session rows are sums of these groups. Entity and
    -- tags are constant within a group, so the group's earliest event is the only one that
    -- can supply them. Token sums saturate per group; tokens are never negative, so
    -- saturating again after adding the groups equals saturating the whole sum.
    SELECT session_id, (timestamp AT TIME ZONE 'UTC')::date AS day, entity_type, entity_id,
           model, provider, tags,
           count(*) AS calls,
           sum(cost_nanos) AS cost_nanos,  -- NUMERIC: exact for any number of events
           {_saturated_sum("input_tokens")} AS input_tokens,
           {_saturated_sum("output_tokens")} AS output_tokens,
           {_saturated_sum("cached_input_tokens")} AS cached_input_tokens,
           count(*) FILTER (WHERE is_error) AS errors,
           min(timestamp) AS first_seen,
           max(timestamp) AS last_seen,
           -- The group's earliest event by (timestamp, event_id), found by comparing one
           -- string per event, COLLATE "C" (byte order), that sorts like the pair: the
           -- timestamp's big-endian microseconds since 2000-01-01 00:00 UTC in
           -- {_EARLIEST_TS_HEX} hex digits, then the id itself (UTF-8 byte order is code point
           -- order; a prefix sorts first). The group is one UTC day and that instant is
           -- midnight, so its timestamps share a sign, and same-sign two's complement compares
           -- like the numbers. Its timestamp is min(timestamp), so the rank string is built
           -- once per group, not once per event. (A text min: 3x cheaper than an array min.)
           CASE WHEN session_id IS NOT NULL THEN
               to_char(min(timestamp) AT TIME ZONE 'UTC', '{TIMESTAMP_FORMAT}')
               || encode(convert_to(substr(
                      min(encode(timestamptz_send(timestamp), 'hex') || event_id COLLATE "C")
                      FILTER (WHERE session_id IS NOT NULL),
                      {_EARLIEST_TS_HEX + 1}), 'UTF8'), 'hex')
               || '{RANK_END}'
           END AS rank
    FROM claimed
    GROUP BY session_id, day, entity_type, entity_id, model, provider, tags
), {tag_daily.postgres_ctes()}per_session AS (
    SELECT session_id,
           sum(calls)::bigint AS turn_count,
           sum(cost_nanos) AS total_cost_nanos,
           {_saturated_sum("input_tokens")} AS input_tokens,
           {_saturated_sum("output_tokens")} AS output_tokens,
           {_saturated_sum("cached_input_tokens")} AS cached_input_tokens,
           min(first_seen) AS first_seen,
           max(last_seen) AS last_seen,
           sum(errors)::bigint AS error_count,
           jsonb_agg(DISTINCT model COLLATE "C" ORDER BY model COLLATE "C") AS models,
           -- NULL, and so skipped, for groups without an entity.
           min(rank || lpad(length(entity_type)::text, {width}, '0') || entity_type || entity_id
               COLLATE "C") AS entity_key
    FROM grouped WHERE session_id IS NOT NULL GROUP BY session_id
), tag_sets AS (
    -- Calls of a session usually repeat the same tags: look at each distinct set once.
    SELECT session_id, tags, min(rank COLLATE "C") AS rank
    FROM grouped WHERE session_id IS NOT NULL AND tags IS NOT NULL
    GROUP BY session_id, tags
), set_counts AS (
    -- Most sessions have one tag set in a chunk: its tags are the session's, each ranked by
    -- the set's earliest event, with no per-key merge.
    SELECT session_id, count(*) AS sets, (array_agg(tags))[1] AS tags,
           min(rank COLLATE "C") AS rank
    FROM tag_sets GROUP BY session_id
), tag_firsts AS (
    -- Sessions with several sets: per key, the value of the set with the earliest event.
    SELECT DISTINCT ON (ts.session_id, t.key COLLATE "C") ts.session_id, t.key, t.value, ts.rank
    FROM tag_sets ts JOIN set_counts c ON c.session_id = ts.session_id AND c.sets > 1
    CROSS JOIN LATERAL jsonb_each(ts.tags) t
    ORDER BY ts.session_id, t.key COLLATE "C", ts.rank COLLATE "C"
), per_session_tags AS (
    SELECT session_id,
           jsonb_object_agg(key, value) AS tags, jsonb_object_agg(key, rank) AS tag_ranks
    FROM tag_firsts GROUP BY session_id
    UNION ALL
    SELECT session_id, tags, (SELECT jsonb_object_agg(key, rank) FROM jsonb_object_keys(tags) key)
    FROM set_counts WHERE sets = 1
), upserted AS (
    INSERT INTO {sessions} AS s (
        organization_id, session_id, entity_type, entity_id, entity_rank, turn_count,
        total_cost_nanos, input_tokens, output_tokens, cached_input_tokens, first_seen,
        last_seen, error_count, models, tags, tag_ranks, updated_at)
    SELECT %(org)s, p.session_id,
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
    LEFT JOIN per_session_tags t USING (session_id)
    -- One lock order for every worker: concurrent chunks touching the same sessions queue
    -- instead of deadlocking.
    ORDER BY p.session_id
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
), daily AS (
    -- Every claimed event, sessionless ones too. "" stands for no entity (DailyCost).
    INSERT INTO {daily} AS s ({_DAILY_KEY}, cost_nanos, {", ".join(_DAILY_SUMS)})
    SELECT %(org)s, {_DAILY_GROUP},
           sum(cost_nanos), sum(calls)::bigint, {_saturated_sum("input_tokens")},
           {_saturated_sum("output_tokens")}, {_saturated_sum("cached_input_tokens")},
           sum(errors)::bigint
    FROM grouped
    GROUP BY {_DAILY_GROUP}
    -- One lock order for every writer, as for the sessions: code point order, whatever the
    -- database's collation, as sessions/reprice.py sorts in Python (and cheaper to sort).
    ORDER BY 2, 3, 4, 5, 6
    ON CONFLICT ({_DAILY_KEY}) DO UPDATE SET
        cost_nanos = s.cost_nanos + EXCLUDED.cost_nanos,
        {", ".join(_add_saturating(c) for c in _DAILY_SUMS)}
    RETURNING 1
)
SELECT (SELECT coalesce(sum(calls), 0)::bigint FROM grouped), (SELECT count(*) FROM upserted),
       (SELECT count(*) FROM daily),
       -- The next claim's cursor: the last session claimed (in the index's collation), and
       -- whether the claim reached the sessionless rows.
       (SELECT max(session_id) FROM grouped),
       (SELECT coalesce(bool_or(session_id IS NULL), false) FROM grouped)
"""


@cache
def _sql() -> str:
    return _statement()


# The per-group hash aggregate needs about 9 MB for a 20,000-event chunk and 19 MB for the
# default 50,000 (ROLLUP_CHUNK_SIZE): at the default 4 MB (x2 for hash tables) it spills to
# temp files. Local to the chunk's transaction.
CHUNK_WORK_MEM = "32MB"


class PostgresRollup:
    """The production rollup: claim, aggregate and merge, one statement per chunk."""

    vendor = "postgresql"

    def rollup_chunk(
        self, *, organization_id: int, limit: int, up_to: int, cursor: ClaimCursor = START
    ) -> ChunkResult:
        params = {
            "org": organization_id,
            "limit": limit,
            "up_to": up_to,
            "after": cursor.after_session,
            "sessions_done": cursor.sessions_done,
        }
        with connection.cursor() as db:
            db.execute(f"SET LOCAL work_mem = '{CHUNK_WORK_MEM}'")
            db.execute(_sql(), params)
            claimed, sessions, _days, last_session, reached_sessionless = db.fetchone()
        if not claimed:
            return ChunkResult(0, 0, cursor)
        return ChunkResult(
            int(claimed),
            int(sessions),
            ClaimCursor(
                after_session=last_session if last_session is not None else cursor.after_session,
                sessions_done=cursor.sessions_done or bool(reached_sessionless),
            ),
        )
