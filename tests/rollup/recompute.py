"""The rollup's oracle: every session recomputed from the stored events in plain Python.

Deliberately independent of the rollup SQL: it reads `ingestion_event` through the ORM and
applies the rules of SPEC.md section 5 one event at a time, in (timestamp, pk) order.
"""

from datetime import datetime
from typing import Any

from ingestion.models import Event
from sessions.models import Session

SessionRow = dict[str, Any]

# Every aggregate column the contract covers; merge bookkeeping (entity_rank, tag_ranks),
# updated_at and the surrogate id are not part of it.
FIELDS = (
    "entity_type",
    "entity_id",
    "turn_count",
    "total_cost_nanos",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "first_seen",
    "last_seen",
    "error_count",
    "models",
    "tags",
)


def recompute(org_id: int) -> dict[str, SessionRow]:
    """{session_id: aggregate} for every session of the organization, from its events."""
    events = (
        Event.objects.filter(organization_id=org_id, session_id__isnull=False)
        .order_by("timestamp", "pk")
        .values_list(
            "session_id",
            "timestamp",
            "entity_type",
            "entity_id",
            "cost_nanos",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "status",
            "model",
            "tags",
        )
    )
    sessions: dict[str, SessionRow] = {}
    models: dict[str, set[str]] = {}
    for (
        session_id,
        timestamp,
        entity_type,
        entity_id,
        cost_nanos,
        input_tokens,
        output_tokens,
        cached_input_tokens,
        status,
        model,
        tags,
    ) in events.iterator(chunk_size=5000):
        assert session_id is not None  # filtered above
        row = sessions.get(session_id)
        if row is None:
            # Events come in (timestamp, pk) order: the first one seen is the earliest.
            row = sessions[session_id] = {
                "entity_type": None,
                "entity_id": None,
                "turn_count": 0,
                "total_cost_nanos": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_input_tokens": 0,
                "first_seen": timestamp,
                "last_seen": timestamp,
                "error_count": 0,
                "tags": {},
            }
            models[session_id] = set()
        if row["entity_type"] is None and entity_type is not None:
            row["entity_type"], row["entity_id"] = entity_type, entity_id
        row["turn_count"] += 1
        row["total_cost_nanos"] += cost_nanos
        row["input_tokens"] += input_tokens
        row["output_tokens"] += output_tokens
        row["cached_input_tokens"] += cached_input_tokens
        row["last_seen"] = max(row["last_seen"], timestamp)
        row["error_count"] += status == Event.Status.ERROR
        models[session_id].add(model)
        for key, value in tags.items():
            row["tags"].setdefault(key, value)  # the earliest event carrying the key wins
    for session_id, row in sessions.items():
        row["models"] = sorted(models[session_id])
    return sessions


def snapshot(org_id: int) -> dict[str, SessionRow]:
    """The stored aggregates of the organization, in the shape `recompute` returns."""
    return {
        row.pop("session_id"): row
        for row in Session.objects.filter(organization_id=org_id).values("session_id", *FIELDS)
    }


def as_json(sessions: dict[str, SessionRow]) -> dict[str, SessionRow]:
    """The same mapping with datetimes as ISO strings, for comparing across processes."""
    return {
        session_id: {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row.items()
        }
        for session_id, row in sessions.items()
    }
