"""The dashboard's door to analytics data: the read path the API uses (analytics/selectors.py).

Pages parse filters with the API's `read_filters` and read through the same keyword-only
selectors, which scope themselves to the organization, so a page and the API answer the same
question with the same rows. The only read of the dashboard's own is the histogram below.
"""

import math
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet

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
    Each bucket is [low, high). Both histograms come from one statement, one scan of the
    sessions: grouped by bucket numbers on PostgreSQL, a filtered COUNT per bucket on SQLite.
    """
    if not metrics["session_count"]:
        return {"cost": [], "turns": []}
    measures = {
        "cost": ("total_cost_nanos", _edges(usd_to_nanos(metrics["p95_cost"]))),
        "turns": ("turn_count", _edges(math.ceil(metrics["p95_turns"]))),
    }
    sessions = session_list(organization=organization, filters=filters).order_by()
    if connection.vendor == "postgresql":
        totals = _bucket_counts_grouped(sessions, measures)
    else:
        totals = _bucket_counts_filtered(sessions, measures)
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


Measures = dict[str, tuple[str, tuple[int, int]]]  # name: (field, (width, bucket count))


def _bucket_counts_filtered(sessions: QuerySet[Any], measures: Measures) -> dict[str, int]:
    """A filtered COUNT per bucket, comparisons only (SQLite's exact totals are INTEGER or
    padded TEXT: they compare numerically but do not divide)."""
    counts: dict[str, Any] = {}
    for name, (field, (width, count)) in measures.items():
        for index in range(count):
            low, high = index * width, (index + 1) * width
            in_bucket = Q(**{f"{field}__gte": low, f"{field}__lt": high})
            counts[f"{name}_{index}"] = Count("id", filter=in_bucket)
        counts[f"{name}_over"] = Count("id", filter=Q(**{f"{field}__gte": count * width}))
    return sessions.aggregate(**counts)


def _bucket_counts_grouped(sessions: QuerySet[Any], measures: Measures) -> dict[str, int]:
    """The same counts on PostgreSQL from one hash aggregate over the bucket numbers.

    width_bucket(value, edges) binary-searches the sorted edges [0, w, 2w, ... count * w]
    (exact comparisons on the NUMERIC cost): 0 is below zero (no bucket, as in the other
    path), i + 1 is bucket i, count + 1 is "over". About 5 comparisons per row and measure
    instead of 2 per bucket; the two measures' marginals are summed here.
    """
    names = list(measures)
    fields = [measures[name][0] for name in names]
    inner_sql, params = sessions.values(*fields).query.sql_with_params()
    columns, edges = [], []
    for name in names:
        field, (width, count) = measures[name]
        array_type = "numeric[]" if field == "total_cost_nanos" else "bigint[]"
        columns.append(f"width_bucket({field}, %s::{array_type})")
        edges.append([index * width for index in range(count + 1)])
    sql = (
        f"SELECT {', '.join(columns)}, count(*) FROM ({inner_sql}) AS s "
        f"GROUP BY {', '.join(str(n + 1) for n in range(len(names)))}"
    )
    totals = {
        f"{name}_{index}": 0
        for name, (_, (_, count)) in measures.items()
        for index in [*range(count), "over"]
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, [*edges, *params])
        for row in cursor.fetchall():
            for name, bucket in zip(names, row[:-1], strict=True):
                count = measures[name][1][1]
                if bucket > 0:
                    key = f"{name}_{'over' if bucket > count else bucket - 1}"
                    totals[key] += row[-1]
    return totals
