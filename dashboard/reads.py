"""The dashboard's door to analytics data: the read path the API uses (analytics/selectors.py).

Pages parse filters with the API's `read_filters` and read through the same keyword-only
selectors, which scope themselves to the organization, so a page and the API answer the same
question with the same rows. The only read of the dashboard's own is the histogram below.
"""

from typing import Any, Literal

from django.db.models import Case, Count, IntegerField, Max, Value, When

from analytics.filters import ReadFilters, read_filters
from analytics.pagination import CursorCodec
from analytics.selectors import (
    CALLS_IN_TIME_ORDER,
    SESSION_ORDERINGS,
    cost_breakdown,
    cost_group_valid,
    cost_items,
    session_calls,
    session_get,
    session_list,
    session_metrics,
    session_timeline,
)
from infraprism.models import Organization
from infraprism.money import nanos_to_usd

__all__ = [
    "CALLS_IN_TIME_ORDER",
    "SESSION_ORDERINGS",
    "ReadFilters",
    "cost_breakdown",
    "cost_group_valid",
    "cost_items",
    "cursor_codec",
    "read_filters",
    "session_calls",
    "session_get",
    "session_histogram",
    "session_list",
    "session_metrics",
    "session_timeline",
]

HISTOGRAM_BUCKETS = 20


def cursor_codec(*, organization: Organization, page: str, binding: str = "") -> CursorCodec:
    """The API's signed cursors, scoped to a dashboard page (and its filters and ordering)."""
    return CursorCodec(organization=organization, endpoint=f"dashboard:{page}", binding=binding)


def _round_width(minimum: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is >= minimum (at least 1), so bucket
    edges read as round amounts ($0.05, $0.10 ...) and round turn counts."""
    power = 1
    while True:
        for factor in (1, 2, 5):
            if factor * power >= minimum:
                return factor * power
        power *= 10


def session_histogram(
    *, organization: Organization, filters: ReadFilters, measure: Literal["cost", "turns"]
) -> list[dict[str, Any]]:
    """How many of the filtered sessions fall in each of at most 20 equal-width buckets of
    cost (USD) or turns, lowest first: [{"low", "high", "count"}], `low` inclusive and `high`
    exclusive. Counted by the database in one GROUP BY over the same rows as session_list.
    """
    field = "total_cost_nanos" if measure == "cost" else "turn_count"
    sessions = session_list(organization=organization, filters=filters).order_by()
    top = sessions.aggregate(top=Max(field))["top"]
    if top is None:
        return []
    top = int(top)
    width = _round_width(-(-(top + 1) // HISTOGRAM_BUCKETS))  # >= ceil((top + 1) / buckets)
    count = int(top // width) + 1
    # Comparisons only (no arithmetic on the column): the cost total is an exact NUMERIC on
    # PostgreSQL and an INTEGER-or-padded-TEXT on SQLite, and both compare numerically.
    bucket = Case(
        *[When(**{f"{field}__lt": (i + 1) * width}, then=Value(i)) for i in range(count - 1)],
        default=Value(count - 1),
        output_field=IntegerField(),
    )
    rows = (
        sessions.annotate(bucket=bucket)
        .values("bucket")
        .annotate(count=Count("id"))
        .order_by("bucket")
    )
    counts = {int(row["bucket"]): row["count"] for row in rows}
    buckets = []
    for index in range(count):
        low, high = index * width, (index + 1) * width
        buckets.append(
            {
                "low": float(nanos_to_usd(low)) if measure == "cost" else low,
                "high": float(nanos_to_usd(high)) if measure == "cost" else high,
                "count": counts.get(index, 0),
            }
        )
    return buckets
