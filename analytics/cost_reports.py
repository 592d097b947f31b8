"""Cost reports from the daily cost tables (sessions.models.DailyCost and DailyTagCost)
instead of the events.

`table_answers(filters, group_by)` says whether the tables can answer the question exactly;
`daily_groups` then gives the same rows the events query would (analytics/selectors.py
`_cost_groups`), to the nano-dollar, in the same order.

The daily cost table holds per (organization, UTC day, entity, model, provider) sums. It
answers groupings by entity, entity_type, model, provider and UTC day, filtered by entity,
model, provider and bounds on UTC midnights.

The daily tag cost table holds per (organization, tag key, UTC day, tag value) sums, and per
day the sums over all events (key ALL_EVENTS, ""). It answers `tag:KEY` groupings when the
only filters are bounds on UTC midnights (no entity, model, provider, tag, session or status
filter: the table has no such columns). The events without the key (the events query's NULL
group) are exact differences: the days' ALL_EVENTS rows minus the key's rows, plus the
pending ones without the key.

Everything else (tag filters, tag groupings with other filters, session or status filters,
per-session groups, days or bounds in another time zone) falls back to the events.

Freshness: events still pending a rollup are in the queue, not yet in the table. Each report
is one statement over the table UNION ALL the organization's pending queue rows (they carry
the same columns), so it sees every stored event exactly once: a rollup moves rows from the
queue to the table in one transaction, and one statement reads one snapshot of both.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from django.db import connection

from analytics.filters import ReadFilters
from sessions.models import DailyCost, DailyTagCost, PendingRollup
from sessions.rollup.tag_daily import ALL_EVENTS

TABLE_GROUPS = ("entity", "entity_type", "model", "provider", "day")
TAG_PREFIX = "tag:"  # analytics/selectors.py TAG_GROUP_PREFIX
# Filters the tag table cannot apply: any of them sends a tag grouping to the events.
_NOT_IN_TAG_TABLE = ("entity_type", "entity_id", "model", "provider", "session_id", "status")
_UTC_NAMES = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu", "Etc/Universal")

# Per grouping: the SELECT list (named like the events query's values) and its key columns.
# "" is the table's "no entity": NULLIF turns it back into the events' NULL.
_KEYS: dict[str, tuple[str, list[str]]] = {
    "entity": (
        "NULLIF(entity_type, '') AS entity_type, NULLIF(entity_id, '') AS entity_id",
        ["entity_type", "entity_id"],
    ),
    "entity_type": ("NULLIF(entity_type, '') AS entity_type", ["entity_type"]),
    "model": ("model", ["model"]),
    "provider": ("provider", ["provider"]),
    "day": ("day AS group_key", ["group_key"]),
}
# Per grouping: the table's key columns it groups on (before NULLIF).
_COLUMNS: dict[str, list[str]] = {
    "entity": ["entity_type", "entity_id"],
    "entity_type": ["entity_type"],
    "model": ["model"],
    "provider": ["provider"],
    "day": ["day"],
}


def _is_utc(zone: tzinfo) -> bool:
    return zone is UTC or getattr(zone, "key", None) in _UTC_NAMES


def _on_utc_midnight(bound: datetime | None) -> bool:
    return bound is None or bound.astimezone(UTC).time() == time.min


def _tag_key(group_by: str) -> str | None:
    """KEY of a tag:KEY grouping (never ALL_EVENTS, which is no tag key)."""
    if not group_by.startswith(TAG_PREFIX) or group_by == TAG_PREFIX + ALL_EVENTS:
        return None
    return group_by[len(TAG_PREFIX) :]


def table_answers(filters: ReadFilters, group_by: str) -> bool:
    """Whether the daily tables answer this report exactly."""
    if _tag_key(group_by) is not None:
        return (
            _on_utc_midnight(filters.start)
            and _on_utc_midnight(filters.end)
            and not filters.tags
            and all(getattr(filters, name) is None for name in _NOT_IN_TAG_TABLE)
        )
    return (
        group_by in TABLE_GROUPS
        and (group_by != "day" or _is_utc(filters.zone))
        and _on_utc_midnight(filters.start)
        and _on_utc_midnight(filters.end)
        and not filters.tags
        and filters.session_id is None
        and filters.status is None
        # "" is the table's no-entity marker; ingestion never stores an empty entity.
        and filters.entity_type != ""
        and filters.entity_id != ""
    )


def _day_of(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column} AT TIME ZONE 'UTC')::date"
    return f"date({column})"


def _pending_column(name: str) -> str:
    """The queue's expression for one of the table's key columns."""
    if name == "day":
        return _day_of("timestamp")
    if name in ("entity_type", "entity_id"):
        return f"coalesce({name}, '')"
    return name


def _range(
    organization_id: int, filters: ReadFilters
) -> tuple[list[str], list[Any], list[str], list[Any]]:
    """The bounds as conditions: on a daily table's UTC days (bounds on UTC midnights, see
    table_answers), and on the organization's queue rows' timestamps (organization included)."""
    ops = connection.ops
    day_where: list[str] = []
    day_params: list[Any] = []
    queue_where = ["organization_id = %s"]
    queue_params: list[Any] = [organization_id]
    for bound, op in ((filters.start, ">="), (filters.end, "<")):
        if bound is not None:
            day_where.append(f"day {op} %s")
            day_params.append(ops.adapt_datefield_value(bound.astimezone(UTC).date()))
            queue_where.append(f"timestamp {op} %s")
            queue_params.append(ops.adapt_datetimefield_value(bound))
    return day_where, day_params, queue_where, queue_params


def _statement(organization_id: int, filters: ReadFilters, group_by: str) -> tuple[str, list[Any]]:
    select_keys, key_fields = _KEYS[group_by]
    columns = _COLUMNS[group_by]
    day_where, day_params, queue_where, queue_params = _range(organization_id, filters)
    table_where = ["organization_id = %s", *day_where]
    table_params: list[Any] = [organization_id, *day_params]
    for name in ("entity_type", "entity_id", "model", "provider"):
        if (value := getattr(filters, name)) is not None:
            table_where.append(f"{name} = %s")
            table_params.append(value)
            queue_where.append(f"{name} = %s")
            queue_params.append(value)
    total = "sum" if connection.vendor == "postgresql" else "exact_sum"
    order = ", ".join(f"{k} ASC NULLS LAST" for k in key_fields)
    keys = ", ".join(columns)
    pending_keys = ", ".join(f"{_pending_column(c)} AS {c}" for c in columns)
    positions = ", ".join(str(n) for n in range(1, len(columns) + 1))
    # Each side is grouped on its own (the table's rows straight off the scan, without passing
    # every row through the UNION), then the few group rows of both sides are added up: sums of
    # sums, exact (NUMERIC on PostgreSQL; exact_sum takes its own output on SQLite).
    sql = f"""
SELECT {select_keys}, sum(call_count) AS call_count, sum(in_tokens) AS in_tokens,
       sum(out_tokens) AS out_tokens, {total}(total) AS total
FROM (
    SELECT {keys}, sum(call_count) AS call_count, sum(input_tokens) AS in_tokens,
           sum(output_tokens) AS out_tokens, {total}(cost_nanos) AS total
    FROM {DailyCost._meta.db_table} WHERE {" AND ".join(table_where)}
    GROUP BY {positions}
    UNION ALL
    SELECT {pending_keys}, count(*), sum(input_tokens), sum(output_tokens),
           {total}(cost_nanos)
    FROM {PendingRollup._meta.db_table} WHERE {" AND ".join(queue_where)}
    GROUP BY {positions}
) table_and_pending
GROUP BY {", ".join(f"table_and_pending.{c}" for c in columns)}
ORDER BY total DESC, {order}
"""
    return sql, table_params + queue_params


def _tag_statement(
    organization_id: int, filters: ReadFilters, tag_key: str
) -> tuple[str, list[Any]]:
    """The events query's rows for group_by=tag:KEY (group_key: the tag's text, NULL for the
    events without the key), from the daily tag table and the queue."""
    postgres = connection.vendor == "postgresql"
    days, day_params, queue_where, queue_params = _range(organization_id, filters)
    in_range = "".join(f" AND {d}" for d in days)
    tags, queue = DailyTagCost._meta.db_table, PendingRollup._meta.db_table
    if postgres:
        total = "sum"
        # The tag table's rows of the key, subtracted: NUMERIC negates exactly.
        minus = "-sum(call_count), -sum(input_tokens), -sum(output_tokens), -sum(cost_nanos)"
        pending_key = "tags ->> (%s)::text"
    else:
        total = "exact_sum"
        # exact_sum reads its argument with int(), which takes a sign before the digits of
        # either storage form (INTEGER, or padded TEXT past 2**63): '-' || x negates exactly.
        minus = (
            "-sum(call_count), -sum(input_tokens), -sum(output_tokens), "
            "'-' || exact_sum(cost_nanos)"
        )
        pending_key = "(SELECT j.value FROM json_each(tags) AS j WHERE j.key = %s)"
    sums = f"sum(call_count), sum(input_tokens), sum(output_tokens), {total}(cost_nanos)"
    sql = f"""
SELECT group_key, sum(call_count) AS call_count, sum(in_tokens) AS in_tokens,
       sum(out_tokens) AS out_tokens, {total}(total) AS total
FROM (
    -- Folded events with the key, per value.
    SELECT tag_value AS group_key, sum(call_count) AS call_count,
           sum(input_tokens) AS in_tokens, sum(output_tokens) AS out_tokens,
           {total}(cost_nanos) AS total
    FROM {tags} WHERE organization_id = %s AND tag_key = %s{in_range}
    GROUP BY tag_value
    UNION ALL
    -- Folded events without the key: every folded event of the range ...
    SELECT NULL, {sums} FROM {tags} WHERE organization_id = %s AND tag_key = %s{in_range}
    UNION ALL
    -- ... minus those with the key.
    SELECT NULL, {minus} FROM {tags} WHERE organization_id = %s AND tag_key = %s{in_range}
    UNION ALL
    -- Pending events, with or without the key.
    SELECT {pending_key}, count(*), sum(input_tokens), sum(output_tokens), {total}(cost_nanos)
    FROM {queue} WHERE {" AND ".join(queue_where)}
    GROUP BY 1
) AS table_and_pending
GROUP BY group_key
HAVING sum(call_count) > 0  -- the NULL group only when some event lacks the key
ORDER BY total DESC, group_key ASC NULLS LAST
"""
    params = [
        *(organization_id, tag_key, *day_params),
        *(organization_id, ALL_EVENTS, *day_params),
        *(organization_id, tag_key, *day_params),
        tag_key,
        *queue_params,
    ]
    return sql, params


class DailyGroups:
    """The grouped rows, fetched per slice (a page) or iterated (CSV), like a QuerySet. There
    is one row per group (entities x days at most), not per event."""

    def __init__(self, organization_id: int, filters: ReadFilters, group_by: str) -> None:
        self.days = group_by == "day"
        if (tag_key := _tag_key(group_by)) is not None:
            self.sql, self.params = _tag_statement(organization_id, filters, tag_key)
            self.key_fields = ["group_key"]
        else:
            self.sql, self.params = _statement(organization_id, filters, group_by)
            self.key_fields = _KEYS[group_by][1]

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        start = window.start or 0
        limit = "" if window.stop is None else f" LIMIT {int(window.stop) - int(start)}"
        return list(self._rows(f"{self.sql}{limit} OFFSET {int(start)}"))

    def iterator(self, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
        return self._rows(self.sql, chunk_size)

    def _rows(self, sql: str, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
        with connection.cursor() as cursor:
            cursor.execute(sql, self.params)
            names = [column[0] for column in cursor.description]
            while batch := cursor.fetchmany(chunk_size):
                for values in batch:
                    yield self._typed(dict(zip(names, values, strict=True)))

    def _typed(self, row: dict[str, Any]) -> dict[str, Any]:
        """The Python types the events query gives: ints (NUMERIC sums, SQLite's padded text)
        and dates (SQLite returns text)."""
        for name in ("call_count", "in_tokens", "out_tokens", "total"):
            row[name] = int(row[name])
        if self.days and isinstance(row.get("group_key"), str):
            row["group_key"] = date.fromisoformat(row["group_key"])
        return row


def daily_groups(
    organization_id: int, filters: ReadFilters, group_by: str
) -> tuple[DailyGroups, list[str]]:
    """Rows like selectors._cost_groups' events query (only when table_answers)."""
    rows = DailyGroups(organization_id, filters, group_by)
    return rows, rows.key_fields
