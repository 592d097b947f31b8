"""Analytics reads. Every function takes a queryset already scoped to one organization (the
tenant viewset's get_queryset) and already filtered (the filter sets)."""

from datetime import date, tzinfo
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, F, Max, Min, QuerySet, Sum, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lag, RowNumber, TruncDate

from analytics import dialect
from infraprism.money import nanos_to_usd

COST_GROUPS = ("entity", "entity_type", "model", "provider", "session", "day")
TAG_GROUP_PREFIX = "tag:"
# percentile_cont interpolates in double precision (6.199999999999999 for 6.2); rounding like
# the costs (to whole nano-dollars) gives both dialects the same, clean answer.
TURNS_QUANTUM = Decimal("1e-9")


def session_metrics(sessions: QuerySet[Any]) -> dict[str, Any]:
    # One statement on PostgreSQL: totals and both percentile pairs in a single scan.
    fractions = [0.5, 0.95]
    totals = sessions.order_by().aggregate(
        session_count=Count("id"),
        total=Sum("total_cost_nanos"),
        avg_turns=Avg("turn_count"),
        max_cost=Max("total_cost_nanos"),
        **dialect.percentile_aggregates("total_cost_nanos", fractions),
        **dialect.percentile_aggregates("turn_count", fractions),
    )
    count = totals["session_count"]
    total = Decimal(totals["total"] or 0)
    median_cost, p95_cost = dialect.percentiles(sessions, "total_cost_nanos", fractions, totals)
    median_turns, p95_turns = dialect.percentiles(sessions, "turn_count", fractions, totals)
    return {
        "session_count": count,
        "total_cost": nanos_to_usd(total),
        "avg_cost_per_session": nanos_to_usd(total / count) if count else Decimal(0),
        "avg_turns": float(totals["avg_turns"] or 0),
        "median_cost": nanos_to_usd(median_cost.quantize(Decimal(1))),
        "p95_cost": nanos_to_usd(p95_cost.quantize(Decimal(1))),
        "median_turns": float(median_turns.quantize(TURNS_QUANTUM)),
        "p95_turns": float(p95_turns.quantize(TURNS_QUANTUM)),
        "max_cost": nanos_to_usd(totals["max_cost"] or 0),
    }


def session_metrics_by_day(sessions: QuerySet[Any], zone: tzinfo) -> list[dict[str, Any]]:
    """Per day (in `zone`) on which sessions started."""
    rows = (
        sessions.order_by()
        .annotate(day=TruncDate("first_seen", tzinfo=zone))
        .values("day")
        .annotate(
            session_count=Count("id"), total=Sum("total_cost_nanos"), avg_turns=Avg("turn_count")
        )
        .order_by("day")
    )
    return [
        {
            "date": row["day"],
            "session_count": row["session_count"],
            "total_cost": nanos_to_usd(row["total"]),
            "avg_cost_per_session": nanos_to_usd(Decimal(row["total"]) / row["session_count"]),
            "avg_turns": float(row["avg_turns"]),
        }
        for row in rows
    ]


def cost_group_valid(group_by: str) -> bool:
    if group_by.startswith(TAG_GROUP_PREFIX):
        return 0 < len(group_by) - len(TAG_GROUP_PREFIX) <= 64
    return group_by in COST_GROUPS


def cost_breakdown(
    events: QuerySet[Any], group_by: str, zone: tzinfo, offset: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Cost per group over the calls, most expensive first; one page and whether more follow.

    Each call belongs to exactly one group, so group totals add up to the calls' total.
    """
    events = events.order_by()
    key_fields: list[str]
    if group_by == "entity":
        key_fields = ["entity_type", "entity_id"]
    elif group_by == "day":
        events = events.annotate(group_key=TruncDate("timestamp", tzinfo=zone))
        key_fields = ["group_key"]
    elif group_by.startswith(TAG_GROUP_PREFIX):
        events = events.annotate(
            group_key=KeyTextTransform(group_by[len(TAG_GROUP_PREFIX) :], "tags")
        )
        key_fields = ["group_key"]
    else:
        key_fields = ["session_id" if group_by == "session" else group_by]
    rows = list(
        events.values(*key_fields)
        .annotate(
            call_count=Count("id"),
            in_tokens=Sum("input_tokens"),
            out_tokens=Sum("output_tokens"),
            total=Sum("cost_nanos"),
        )
        .order_by(F("total").desc(), *[F(k).asc(nulls_last=True) for k in key_fields])[
            offset : offset + limit + 1
        ]
    )
    items = []
    for row in rows[:limit]:
        if group_by == "entity":
            key: Any = {"entity_type": row["entity_type"], "entity_id": row["entity_id"]}
        else:
            key = row[key_fields[0]]
            if isinstance(key, date):
                key = key.isoformat()
        items.append(
            {
                "key": key,
                "call_count": row["call_count"],
                "input_tokens": row["in_tokens"],
                "output_tokens": row["out_tokens"],
                "total_cost": nanos_to_usd(row["total"]),
            }
        )
    return items, len(rows) > limit


_TIMELINE_VALUES = (
    "step", "event_id", "timestamp", "previous_ts", "start_ts", "cost_nanos", "running_nanos",
    "input_tokens", "output_tokens", "cached_input_tokens", "latency_ms", "status", "model",
)  # fmt: skip


def session_timeline(calls: QuerySet[Any], after_step: int, limit: int) -> list[dict[str, Any]]:
    """Steps of one session's calls in time order, with running cost and gaps.

    The window functions run over the whole session; the page is cut on the step number
    afterwards, so cumulative_cost and gap_ms are right on every page.
    """
    order = [F("timestamp").asc(), F("id").asc()]
    rows = (
        calls.order_by()
        .annotate(
            step=Window(RowNumber(), order_by=order),
            running_nanos=Window(Sum("cost_nanos"), order_by=order),
            previous_ts=Window(Lag("timestamp"), order_by=order),
            start_ts=Window(Min("timestamp")),
        )
        .filter(step__gt=after_step, step__lte=after_step + limit + 1)
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
            "cost": nanos_to_usd(row["cost_nanos"]),
            "cumulative_cost": nanos_to_usd(row["running_nanos"]),
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
