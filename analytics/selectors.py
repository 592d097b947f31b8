"""Every read of the Analytics API and the dashboard (the read path).

Each function is keyword-only, takes the caller's `organization` and scopes itself with
`for_organization`, so no query can forget the tenant; filters arrive parsed (ReadFilters,
from analytics.filters.read_filters). Views and pages parse, call one of these, and render.

Ties: calls are ordered by (timestamp, event_id) and sessions by (sort value, session_id) on
every engine, whatever order the rows arrived in.
"""

from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from django.db.models import (
    BigIntegerField,
    Count,
    F,
    Max,
    Min,
    Model,
    QuerySet,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Lag, Mod, RowNumber, TruncDate

from analytics import cost_reports, dialect, orderings
from analytics.filters import INT64_MAX, ReadFilters
from analytics.json_tags import TagValue
from analytics.serializers import CALL_VALUES, SESSION_VALUES, usd
from infraprism.models import Organization
from ingestion.models import Event
from sessions.models import Session

# The orderings belong to the read path's interface (analytics/orderings.py).
SESSION_ORDERINGS = orderings.SESSION_ORDERINGS
DEFAULT_SESSION_ORDERING = orderings.DEFAULT_SESSION_ORDERING
STABLE_SESSION_ORDERINGS = orderings.STABLE_SESSION_ORDERINGS
EVENTS_NEWEST_FIRST = orderings.EVENTS_NEWEST_FIRST
CALLS_IN_TIME_ORDER = orderings.CALLS_IN_TIME_ORDER

COST_GROUPS = ("entity", "entity_type", "model", "provider", "session", "day")
TAG_GROUP_PREFIX = "tag:"
TAG_KEY_MAX = 64
NANO = Decimal(1)  # quantum of a nano-dollar amount
# percentile_cont interpolates in double precision (6.199999999999999 for 6.2); rounding like
# the costs (to whole nano-dollars) gives both dialects the same, clean answer.
TURNS_QUANTUM = Decimal("1e-9")


# --- filters ---------------------------------------------------------------------------------


def _filter_common(queryset: QuerySet[Any], filters: ReadFilters) -> QuerySet[Any]:
    if filters.entity_type is not None:
        queryset = queryset.filter(entity_type=filters.entity_type)
    if filters.entity_id is not None:
        queryset = queryset.filter(entity_id=filters.entity_id)
    for key, value in filters.tags:
        queryset = queryset.filter(dialect.tag_equals(queryset.model, key, value))
    return queryset


def _filter_sessions(queryset: QuerySet[Any], filters: ReadFilters) -> QuerySet[Any]:
    queryset = _filter_common(queryset, filters)
    # Sessions whose activity [first_seen, last_seen] overlaps [start, end).
    if filters.start is not None:
        queryset = queryset.filter(last_seen__gte=filters.start)
    if filters.end is not None:
        queryset = queryset.filter(first_seen__lt=filters.end)
    if filters.model is not None:
        queryset = queryset.filter(dialect.list_contains(queryset.model, "models", filters.model))
    if filters.min_cost_nanos is not None:
        if _beyond_column(Session, "total_cost_nanos", filters.min_cost_nanos):
            return queryset.none()
        queryset = queryset.filter(total_cost_nanos__gte=filters.min_cost_nanos)
    if filters.min_turns is not None:
        if _beyond_column(Session, "turn_count", filters.min_turns):
            return queryset.none()
        queryset = queryset.filter(turn_count__gte=filters.min_turns)
    return queryset


def _beyond_column(model: type[Model], field: str, threshold: int) -> bool:
    """Whether `>= threshold` can match nothing because the column cannot hold the value (an
    out-of-range parameter would be an error on the database instead)."""
    internal = model._meta.get_field(field).get_internal_type()  # type: ignore[union-attr]
    return internal in ("BigIntegerField", "IntegerField") and threshold > INT64_MAX


def _filter_events(queryset: QuerySet[Any], filters: ReadFilters) -> QuerySet[Any]:
    queryset = _filter_common(queryset, filters)
    if filters.start is not None:
        queryset = queryset.filter(timestamp__gte=filters.start)
    if filters.end is not None:
        queryset = queryset.filter(timestamp__lt=filters.end)
    for name in ("model", "session_id", "status", "provider"):
        if (value := getattr(filters, name)) is not None:
            queryset = queryset.filter(**{name: value})
    return queryset


def _sessions(organization: Organization, filters: ReadFilters) -> QuerySet[Any]:
    return _filter_sessions(Session.objects.for_organization(organization), filters)


def _events(organization: Organization, filters: ReadFilters) -> QuerySet[Any]:
    return _filter_events(Event.objects.for_organization(organization), filters)


# --- sessions --------------------------------------------------------------------------------


def session_list(
    *, organization: Organization, filters: ReadFilters, ordering: str = DEFAULT_SESSION_ORDERING
) -> QuerySet[Session, dict[str, Any]]:
    """The filtered sessions as SESSION_VALUES rows, in `ordering` (a SESSION_ORDERINGS name;
    KeyError otherwise) with session_id breaking ties; unpaged."""
    order = SESSION_ORDERINGS[ordering]
    return _sessions(organization, filters).values(*SESSION_VALUES).order_by(*order.order_by())


def session_get(*, organization: Organization, session_id: str) -> dict[str, Any] | None:
    """One session as a SESSION_VALUES row, or None (also for other tenants' sessions)."""
    return (
        Session.objects.for_organization(organization)
        .filter(session_id=session_id)
        .values(*SESSION_VALUES)
        .first()
    )


def session_calls(
    *, organization: Organization, session_id: str
) -> QuerySet[Event, dict[str, Any]]:
    """The session's calls as CALL_VALUES rows, ordered by (timestamp, event_id)."""
    return (
        Event.objects.for_organization(organization)
        .filter(session_id=session_id)
        .values(*CALL_VALUES)
        .order_by(*CALLS_IN_TIME_ORDER.order_by())
    )


_TIMELINE_VALUES = (
    "step", "event_id", "timestamp", "previous_ts", "start_ts", "cost_nanos", "running_whole",
    "running_rest", "input_tokens", "output_tokens", "cached_input_tokens", "latency_ms",
    "status", "model",
)  # fmt: skip
_BILLION = 1_000_000_000


def session_timeline(
    *, organization: Organization, session_id: str, after_step: int = 0, limit: int = 1000
) -> list[dict[str, Any]]:
    """Steps after `after_step` (at most `limit`; ask for one more to learn whether more
    follow) of the session's calls in (timestamp, event_id) order, with running cost and gaps.

    The window functions run over the whole session and the page is cut on the step number
    afterwards, so cumulative_cost and gap_ms are right on every page. The running cost is
    summed in two parts (whole USD, remaining nano-dollars), each of which fits in 64 bits on
    every engine, so it is exact for any session total.
    """
    order = [F("timestamp").asc(), F("event_id").asc()]
    whole_usd = F("cost_nanos") / Value(_BILLION)
    rest = Mod(F("cost_nanos"), Value(_BILLION), output_field=BigIntegerField())
    rows = (
        Event.objects.for_organization(organization)
        .filter(session_id=session_id)
        .annotate(
            step=Window(RowNumber(), order_by=order),
            running_whole=Window(Sum(whole_usd, output_field=BigIntegerField()), order_by=order),
            running_rest=Window(Sum(rest), order_by=order),
            previous_ts=Window(Lag("timestamp"), order_by=order),
            start_ts=Window(Min("timestamp")),
        )
        .filter(step__gt=after_step, step__lte=after_step + limit)
        .values(*_TIMELINE_VALUES)
        .order_by("step")
    )
    return [
        {
            "step": row["step"],
            "event_id": row["event_id"],
            "timestamp": row["timestamp"],
            "offset_ms": _ms(row["timestamp"] - row["start_ts"]),
            "gap_ms": _ms(row["timestamp"] - row["previous_ts"]) if row["previous_ts"] else None,
            "cost": usd(row["cost_nanos"]),
            "cumulative_cost": usd(int(row["running_whole"]) * _BILLION + int(row["running_rest"])),
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "cached_input_tokens": row["cached_input_tokens"],
            "latency_ms": row["latency_ms"],
            "status": row["status"],
            "model": row["model"],
        }
        for row in rows
    ]


def _ms(delta: Any) -> int:
    return int(delta.total_seconds() * 1000)


# --- metrics ---------------------------------------------------------------------------------


def _average_usd(total_nanos: Any, count: int) -> Decimal:
    """USD average, rounded half-even to the nano-dollar like every other amount."""
    if not count:
        return usd(0)
    average = (Decimal(total_nanos or 0) / count).quantize(NANO, rounding=ROUND_HALF_EVEN)
    return usd(average)


def session_metrics(
    *, organization: Organization, filters: ReadFilters, interval: str | None = None
) -> dict[str, Any]:
    """Totals, averages and percentiles over the filtered sessions; with interval="day" also
    a "series" per day (in filters.zone) on which sessions started.

    Two statements, whatever the interval: one scan groups the sessions by day (the series,
    and the totals summed from it exactly in Python), and one reads the exact neighbours of
    both percentile pairs (dialect.percentiles_of, which needs the count from the first).
    """
    sessions = _sessions(organization, filters)
    days = _metrics_by_day(sessions, filters)
    count = sum(day["session_count"] for day in days)
    total = sum((day["total"] for day in days), 0)
    turns_total = sum((day["turns"] for day in days), 0)
    max_cost = max((day["max_cost"] for day in days), default=0)
    # Money sums are exact (dialect.exact_sum); percentiles read exact stored values.
    fractions = [0.5, 0.95]
    picked = dialect.percentiles_of(
        sessions, ["total_cost_nanos", "turn_count"], fractions, count=count
    )
    median_cost, p95_cost = picked["total_cost_nanos"]
    median_turns, p95_turns = picked["turn_count"]
    data: dict[str, Any] = {
        "session_count": count,
        "total_cost": usd(total),
        "avg_cost_per_session": _average_usd(total, count),
        "avg_turns": _average_turns(turns_total, count),
        "median_cost": usd(median_cost.quantize(NANO)),
        "p95_cost": usd(p95_cost.quantize(NANO)),
        "median_turns": float(median_turns.quantize(TURNS_QUANTUM)),
        "p95_turns": float(p95_turns.quantize(TURNS_QUANTUM)),
        "max_cost": usd(max_cost),
    }
    if interval == "day":
        data["series"] = [
            {
                "date": day["day"],
                "session_count": day["session_count"],
                "total_cost": usd(day["total"]),
                "avg_cost_per_session": _average_usd(day["total"], day["session_count"]),
                "avg_turns": _average_turns(day["turns"], day["session_count"]),
            }
            for day in days
        ]
    return data


def _average_turns(turns_total: Any, count: int) -> float:
    """The mean as the float nearest to the exact quotient (turn sums are whole numbers)."""
    return float(Fraction(int(turns_total), count)) if count else 0.0


def _metrics_by_day(sessions: QuerySet[Any], filters: ReadFilters) -> list[dict[str, Any]]:
    """Per start day (in filters.zone): count, exact cost total, turn total and the largest
    session cost, in day order."""
    rows = (
        sessions.order_by()
        .annotate(day=TruncDate("first_seen", tzinfo=filters.zone))
        .values("day")
        .annotate(
            session_count=Count("id"),
            total=dialect.exact_sum("total_cost_nanos"),
            turns=Sum("turn_count"),
            max_cost=Max("total_cost_nanos"),
        )
        .order_by("day")
    )
    return [
        {**row, "total": int(row["total"]), "turns": int(row["turns"]), "max_cost": row["max_cost"]}
        for row in rows
    ]


# --- costs -----------------------------------------------------------------------------------


def cost_group_valid(group_by: str) -> bool:
    if group_by.startswith(TAG_GROUP_PREFIX):
        return 0 < len(group_by) - len(TAG_GROUP_PREFIX) <= TAG_KEY_MAX
    return group_by in COST_GROUPS


def _cost_groups(
    organization: Organization, filters: ReadFilters, group_by: str
) -> tuple[Any, list[str]]:
    """Grouped rows, most expensive first (ties by key), and the key fields: from the daily
    cost table when it can answer exactly (analytics/cost_reports.py), else from the events."""
    if cost_reports.table_answers(filters, group_by):
        return cost_reports.daily_groups(organization.pk, filters, group_by)
    events = _events(organization, filters).order_by()
    key_fields: list[str]
    if group_by == "entity":
        key_fields = ["entity_type", "entity_id"]
    elif group_by == "day":
        events = events.annotate(group_key=TruncDate("timestamp", tzinfo=filters.zone))
        key_fields = ["group_key"]
    elif group_by.startswith(TAG_GROUP_PREFIX):
        events = events.annotate(group_key=TagValue(group_by[len(TAG_GROUP_PREFIX) :]))
        key_fields = ["group_key"]
    else:
        key_fields = ["session_id" if group_by == "session" else group_by]
    rows = (
        events.values(*key_fields)
        .annotate(
            call_count=Count("id"),
            in_tokens=Sum("input_tokens"),
            out_tokens=Sum("output_tokens"),
            total=dialect.exact_sum("cost_nanos"),
        )
        .order_by(F("total").desc(), *[F(k).asc(nulls_last=True) for k in key_fields])
    )
    return rows, key_fields


def _cost_item(row: dict[str, Any], group_by: str, key_fields: list[str]) -> dict[str, Any]:
    if group_by == "entity":
        key: Any = {"entity_type": row["entity_type"], "entity_id": row["entity_id"]}
    else:
        key = row[key_fields[0]]
        if isinstance(key, date):
            key = key.isoformat()
    return {
        "key": key,
        "call_count": row["call_count"],
        "input_tokens": row["in_tokens"],
        "output_tokens": row["out_tokens"],
        "total_cost": usd(row["total"]),
    }


def cost_breakdown(
    *,
    organization: Organization,
    filters: ReadFilters,
    group_by: str,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], bool]:
    """Cost per group over the filtered calls, most expensive first: one page and whether
    more follow. `group_by` must satisfy cost_group_valid (ValueError otherwise).

    Each call belongs to exactly one group, so group totals add up to the calls' total.
    """
    if not cost_group_valid(group_by):
        raise ValueError(f"unknown cost grouping {group_by!r}")
    rows, key_fields = _cost_groups(organization, filters, group_by)
    page = list(rows[offset : offset + limit + 1])
    items = [_cost_item(row, group_by, key_fields) for row in page[:limit]]
    return items, len(page) > limit


def cost_items(
    *, organization: Organization, filters: ReadFilters, group_by: str
) -> Iterator[dict[str, Any]]:
    """Every cost group, streamed from the database cursor (for CSV)."""
    if not cost_group_valid(group_by):
        raise ValueError(f"unknown cost grouping {group_by!r}")
    rows, key_fields = _cost_groups(organization, filters, group_by)
    for row in rows.iterator(chunk_size=2000):
        yield _cost_item(row, group_by, key_fields)


# --- events ----------------------------------------------------------------------------------


def event_list(
    *, organization: Organization, filters: ReadFilters
) -> QuerySet[Event, dict[str, Any]]:
    """The filtered calls as CALL_VALUES rows, newest first (timestamp, then event_id)."""
    return (
        _events(organization, filters)
        .values(*CALL_VALUES)
        .order_by(*EVENTS_NEWEST_FIRST.order_by())
    )
