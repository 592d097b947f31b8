"""Shapes of Analytics API items: rows from .values() to JSON-ready dicts.

Plain functions rather than DRF serializers on the hot path (a 1,000-row page through
serializer fields costs more than the query); the serializers at the bottom describe the same
shapes for the OpenAPI schema.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from infraprism.money import nanos_to_usd

_TENTH = Decimal("0.1")


def usd(nanos: int | Decimal | None) -> Decimal:
    """USD from nano-dollars, exact, with at least one decimal place: the JSON renderer writes
    a Decimal's digits as they are, and money reads as 1.0, not 1, as it always has."""
    amount = nanos_to_usd(nanos)
    exponent = amount.as_tuple().exponent
    return amount if isinstance(exponent, int) and exponent < 0 else amount.quantize(_TENTH)


SESSION_VALUES = (
    "session_id", "entity_type", "entity_id", "turn_count", "total_cost_nanos",
    "input_tokens", "output_tokens", "cached_input_tokens", "first_seen", "last_seen",
    "models", "error_count", "tags",
)  # fmt: skip

CALL_VALUES = (
    "event_id", "timestamp", "session_id", "model", "provider", "entity_type",
    "entity_id", "input_tokens", "output_tokens", "cached_input_tokens", "cost_nanos",
    "cost_source", "latency_ms", "status", "tags",
)  # fmt: skip


def session_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": row["session_id"],
        "entity_type": row["entity_type"],
        "entity_id": row["entity_id"],
        "turn_count": row["turn_count"],
        "total_cost": usd(row["total_cost_nanos"]),
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cached_input_tokens": row["cached_input_tokens"],
        "total_tokens": row["input_tokens"] + row["output_tokens"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "duration_seconds": (row["last_seen"] - row["first_seen"]).total_seconds(),
        "models": row["models"],
        "error_count": row["error_count"],
        "tags": row["tags"],
    }


def call_item(row: dict[str, Any], with_session: bool = True) -> dict[str, Any]:
    item = {
        "event_id": row["event_id"],
        "timestamp": row["timestamp"],
        "session_id": row["session_id"],
        "model": row["model"],
        "provider": row["provider"],
        "entity_type": row["entity_type"],
        "entity_id": row["entity_id"],
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cached_input_tokens": row["cached_input_tokens"],
        "cost": usd(row["cost_nanos"]),
        "cost_source": row["cost_source"],
        "latency_ms": row["latency_ms"],
        "status": row["status"],
        "tags": row["tags"],
    }
    if not with_session:
        del item["session_id"]
    return item


# --- CSV columns of the same items -------------------------------------------------------

SESSION_CSV_HEADER = [
    "session_id", "entity_type", "entity_id", "turn_count", "total_cost", "input_tokens",
    "output_tokens", "cached_input_tokens", "total_tokens", "first_seen", "last_seen",
    "duration_seconds", "models", "error_count", "tags",
]  # fmt: skip
_COST_NUMBERS = ["call_count", "input_tokens", "output_tokens", "total_cost"]


def session_csv_cells(row: dict[str, Any]) -> list[Any]:
    item = session_item(row)
    return [";".join(item["models"]) if h == "models" else item[h] for h in SESSION_CSV_HEADER]


def cost_csv_columns(group_by: str) -> tuple[list[str], Callable[[dict[str, Any]], list[Any]]]:
    """(header, item -> cells) for cost groups; an entity key takes two columns."""
    if group_by == "entity":
        header = ["entity_type", "entity_id", *_COST_NUMBERS]
        return header, lambda i: [
            i["key"]["entity_type"],
            i["key"]["entity_id"],
            *[i[n] for n in _COST_NUMBERS],
        ]
    return ["key", *_COST_NUMBERS], lambda i: [i["key"], *[i[n] for n in _COST_NUMBERS]]


# --- OpenAPI descriptions of the same shapes ---------------------------------------------


class PaginationOut(serializers.Serializer):
    limit = serializers.IntegerField()
    has_more = serializers.BooleanField()
    next_cursor = serializers.CharField(allow_null=True)


class SessionOut(serializers.Serializer):
    session_id = serializers.CharField()
    entity_type = serializers.CharField(allow_null=True)
    entity_id = serializers.CharField(allow_null=True)
    turn_count = serializers.IntegerField()
    total_cost = serializers.FloatField(help_text="USD")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    duration_seconds = serializers.FloatField()
    models = serializers.ListField(child=serializers.CharField())
    error_count = serializers.IntegerField()
    tags = serializers.DictField(child=serializers.CharField())


class SessionCallOut(serializers.Serializer):
    """A call inside a session's detail: the session id is the detail's own, not repeated."""

    event_id = serializers.CharField()
    timestamp = serializers.DateTimeField()
    model = serializers.CharField()
    provider = serializers.CharField()
    entity_type = serializers.CharField(allow_null=True)
    entity_id = serializers.CharField(allow_null=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    cost = serializers.FloatField(help_text="USD")
    cost_source = serializers.ChoiceField(choices=["client", "computed", "unpriced"])
    latency_ms = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=["success", "error"])
    tags = serializers.DictField(child=serializers.CharField())


class CallOut(SessionCallOut):
    """A call in the events list, with the session it belongs to (null: none)."""

    session_id = serializers.CharField(allow_null=True)


class SessionDetailOut(SessionOut):
    calls = SessionCallOut(many=True)


class TimelineStepOut(serializers.Serializer):
    step = serializers.IntegerField()
    event_id = serializers.CharField()
    timestamp = serializers.DateTimeField()
    offset_ms = serializers.IntegerField()
    gap_ms = serializers.IntegerField(allow_null=True)
    cost = serializers.FloatField()
    cumulative_cost = serializers.FloatField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    latency_ms = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    model = serializers.CharField()


class MetricsSeriesOut(serializers.Serializer):
    date = serializers.DateField()
    session_count = serializers.IntegerField()
    total_cost = serializers.FloatField()
    avg_cost_per_session = serializers.FloatField()
    avg_turns = serializers.FloatField()


class MetricsOut(serializers.Serializer):
    session_count = serializers.IntegerField()
    total_cost = serializers.FloatField()
    avg_cost_per_session = serializers.FloatField()
    avg_turns = serializers.FloatField()
    median_cost = serializers.FloatField()
    p95_cost = serializers.FloatField()
    median_turns = serializers.FloatField()
    p95_turns = serializers.FloatField()
    max_cost = serializers.FloatField()
    series = MetricsSeriesOut(many=True, required=False)


class CostGroupOut(serializers.Serializer):
    key = serializers.JSONField(
        help_text="The group's value; for group_by=entity an object "
        "{entity_type, entity_id}; null for calls without it"
    )
    call_count = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    total_cost = serializers.FloatField()
