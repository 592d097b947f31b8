"""The daily tag cost table's share of a rollup chunk (sessions.models.DailyTagCost).

Invariant: for every (organization, UTC day, tag key, tag value), the row holds the sums over
the folded events of that day whose `tags ->> key` is that value; and the row with the key
ALL_EVENTS ("", which ingestion never accepts as a tag key) and value "" holds the sums over
all folded events of the day, tagged or not. Each event adds to that row and to one row per tag
it carries, in the transaction that deletes its queue row, so exactly once. The events of a day
without a key are then the ALL_EVENTS row minus the key's rows (analytics/cost_reports.py):
a few rows per day, instead of summing the day's costs_daily rows (one per entity and model).

- PostgreSQL (postgres.py splices `postgres_ctes()` into its one statement, right after the
  `grouped` CTE, the chunk's events summed per session, day, entity, model, provider and tag
  set): those groups are summed again per distinct (day, tag set), since the calls of a
  session usually repeat their tags, then each tag set is expanded
  once (jsonb_each_text: the text `->>` gives) and the sums added to the rows with an upsert,
  in one fixed lock order (LOCK_ORDER; sessions/reprice.py updates in the same order).
  Addition is commutative and associative, so any split into chunks ends at a recomputation;
  token and count sums saturate at the bigint maximum like costs_daily's.
- SQLite (sqlite.py runs `sqlite_recompute_days()` after its daily cost rebuild): the tag rows
  of every touched day are deleted and rebuilt from that day's events, without the events
  still pending (temp.rollup_unfolded), like costs_daily.
"""

from ingestion.models import Event
from sessions.models import DailyTagCost

TABLE = DailyTagCost._meta.db_table
ALL_EVENTS = ""  # the tag_key (and tag_value) of each day's row over every folded event
_BIGINT_MAX = "9223372036854775807"
KEY = "organization_id, tag_key, day, tag_value"  # the unique key, in its index's order
# Code point order on every writer: the rollup's ORDER BY, and Python's sort in reprice.
_ROW_ORDER = 'tag_key COLLATE "C", day, tag_value COLLATE "C"'  # within one organization
LOCK_ORDER = f"organization_id, {_ROW_ORDER}"
SUMS = ("call_count", "input_tokens", "output_tokens", "cached_input_tokens", "error_count")
_TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens")


def _saturating(column: str) -> str:
    return f"LEAST(sum({column}), {_BIGINT_MAX})::bigint AS {column}"


def postgres_ctes() -> str:
    """CTEs reading the chunk's `grouped` rows and upserting into the tag table (the
    statement's organization is %(org)s). Ends with a comma: splice it between two CTEs of the
    rollup statement, after `grouped`. The upsert runs whether or not
    the statement reads its RETURNING (PostgreSQL runs every data-modifying CTE to completion).
    """
    add = ",\n        ".join(
        f"{c} = LEAST(s.{c}::numeric + EXCLUDED.{c}, {_BIGINT_MAX})::bigint" for c in SUMS
    )
    return f"""tag_day_sets AS (
    -- One row per distinct (UTC day, tag set) of the chunk's groups: calls repeat tags.
    -- Untagged events (tags NULL) too: they count in the day's ALL_EVENTS row.
    SELECT day, tags, sum(cost_nanos) AS cost_nanos, sum(calls)::bigint AS call_count,
           {", ".join(_saturating(c) for c in _TOKENS)},
           sum(errors)::bigint AS error_count
    FROM grouped
    GROUP BY day, tags
), per_day_tag AS (
    SELECT s.day, t.key AS tag_key, t.value AS tag_value,
           sum(s.cost_nanos) AS cost_nanos,
           {", ".join(_saturating(c) for c in SUMS)}
    FROM tag_day_sets s CROSS JOIN LATERAL jsonb_each_text(s.tags) t  -- none for NULL tags
    GROUP BY s.day, t.key, t.value
    UNION ALL
    SELECT day, '{ALL_EVENTS}', '{ALL_EVENTS}', sum(cost_nanos),
           {", ".join(_saturating(c) for c in SUMS)}
    FROM tag_day_sets GROUP BY day
), daily_tags AS (
    INSERT INTO {TABLE} AS s ({KEY}, cost_nanos, {", ".join(SUMS)})
    SELECT %(org)s, tag_key, day, tag_value, cost_nanos, {", ".join(SUMS)} FROM per_day_tag
    ORDER BY {_ROW_ORDER}  -- LOCK_ORDER: the statement has one organization
    ON CONFLICT ({KEY}) DO UPDATE SET
        cost_nanos = s.cost_nanos + EXCLUDED.cost_nanos,
        {add}
    RETURNING 1
), """


def sqlite_recompute_days() -> tuple[str, str]:
    """Delete, then rebuild from the events (those in temp.rollup_unfolded left out), the tag
    rows of the days in temp.rollup_days (see sqlite.py's daily cost rebuild)."""
    events_table = Event._meta.db_table
    delete = (
        f"DELETE FROM {TABLE} WHERE EXISTS (SELECT 1 FROM rollup_days t "
        f"WHERE t.organization_id = {TABLE}.organization_id AND t.day = {TABLE}.day)"
    )
    # Each folded event of the day once per tag, and once more under ALL_EVENTS.
    days_events = f"""
FROM rollup_days t JOIN {events_table} e ON e.organization_id = t.organization_id
    AND e.timestamp >= t.day AND e.timestamp < date(t.day, '+1 day')"""
    folded = "NOT EXISTS (SELECT 1 FROM rollup_unfolded u WHERE u.event_pk = e.id)"
    sums = (
        "exact_sum(e.cost_nanos), count(*), sum(e.input_tokens), sum(e.output_tokens), "
        "sum(e.cached_input_tokens), sum(e.status = 'error')"
    )
    insert = f"""
INSERT INTO {TABLE} ({KEY}, cost_nanos, {", ".join(SUMS)})
SELECT e.organization_id, j.key, t.day, j.value, {sums}
{days_events}
CROSS JOIN json_each(e.tags) j
WHERE {folded}
GROUP BY e.organization_id, t.day, j.key, j.value
UNION ALL
SELECT e.organization_id, '{ALL_EVENTS}', t.day, '{ALL_EVENTS}', {sums}
{days_events}
WHERE {folded}
GROUP BY e.organization_id, t.day
"""
    return delete, insert
