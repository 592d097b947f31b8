"""The dashboard's door to analytics data: the read path the API uses (analytics/selectors.py).

Pages parse filters with the API's `read_filters` and read through the same keyword-only
selectors, which scope themselves to the organization, so a page and the API answer the same
question with the same rows. The only read of the dashboard's own is the histogram below.
"""

import math
from typing import Any

from django.db.models import Count, Q

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
from infraprism.money import nanos_to_usd, usd_to_nanos

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
    "session_histograms",
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


def _edges(p95: int) -> tuple[int, int]:
    """(width, count) of equal buckets from 0 that cover 0..p95."""
    width = _round_width(-(-(p95 + 1) // HISTOGRAM_BUCKETS))  # >= ceil((p95 + 1) / buckets)
    return width, p95 // width + 1


def session_histograms(
    *, organization: Organization, filters: ReadFilters, metrics: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """How the filtered sessions spread over cost (USD) and over turns.

    Up to 20 equal buckets of a round width cover 0 to the 95th percentile (from `metrics`,
    session_metrics' answer for the same filters), and one open bucket ("high": None) counts
    the sessions above, so a few giant sessions cannot squash everyone else into one bar.
    Each bucket is [low, high). Both histograms come from one scan of the sessions: a filtered
    COUNT per bucket, comparisons only (the cost total is an exact NUMERIC on PostgreSQL and an
    INTEGER-or-padded-TEXT on SQLite; both compare numerically, neither divides cleanly).
    """
    if not metrics["session_count"]:
        return {"cost": [], "turns": []}
    measures = {
        "cost": ("total_cost_nanos", _edges(usd_to_nanos(metrics["p95_cost"]))),
        "turns": ("turn_count", _edges(math.ceil(metrics["p95_turns"]))),
    }
    counts: dict[str, Any] = {}
    for name, (field, (width, count)) in measures.items():
        for index in range(count):
            low, high = index * width, (index + 1) * width
            in_bucket = Q(**{f"{field}__gte": low, f"{field}__lt": high})
            counts[f"{name}_{index}"] = Count("id", filter=in_bucket)
        counts[f"{name}_over"] = Count("id", filter=Q(**{f"{field}__gte": count * width}))
    sessions = session_list(organization=organization, filters=filters).order_by()
    totals = sessions.aggregate(**counts)
    result: dict[str, list[dict[str, Any]]] = {}
    for name, (_, (width, count)) in measures.items():
        scale = (lambda n: float(nanos_to_usd(n))) if name == "cost" else (lambda n: n)
        buckets = [
            {
                "low": scale(index * width),
                "high": scale((index + 1) * width),
                "count": totals[f"{name}_{index}"],
            }
            for index in range(count)
        ]
        if totals[f"{name}_over"]:
            buckets.append(
                {"low": scale(count * width), "high": None, "count": totals[f"{name}_over"]}
            )
        result[name] = buckets
    return result
