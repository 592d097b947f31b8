"""The test suite's one rollup oracle: session aggregates recomputed in plain Python.

Deliberately independent of the rollup SQL: the rules of SPEC.md sections 5 and 9 are applied
one event at a time, in (timestamp, event_id) order (code point order, as Python compares
strings), by `fold`. Its sources:
- `recompute(org_id)`: the organization's stored events (read through the ORM);
- `from_api_events(events)`: the events a test generated and sent, each event_id counted once,
  independent of the database altogether.
`snapshot(org_id)` gives the stored aggregates in the same shape.

The daily cost table has its oracle here too: `recompute_daily(org_id)` sums the stored events
per (UTC day, entity, model, provider) in Python, `snapshot_daily(org_id)` reads the table; and
the daily tag cost table: `recompute_daily_tags(org_id)` sums them per (tag key, UTC day, tag
value), one row per tag an event carries plus the day's row of all events (key and value ""),
`snapshot_daily_tags(org_id)` reads the table.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from infraprism.money import usd_to_nanos
from ingestion.models import Event
from sessions.models import DailyCost, DailyTagCost, PendingRollup, Session

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


@dataclass(frozen=True)
class OracleEvent:
    """What the rules read from one event."""

    session_id: str
    event_id: str
    timestamp: datetime
    entity_type: str | None
    entity_id: str | None
    cost_nanos: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    is_error: bool
    model: str
    tags: dict[str, str]


def fold(events: Iterable[OracleEvent]) -> dict[str, SessionRow]:
    """{session_id: aggregate} from the events, in any order given."""
    sessions: dict[str, SessionRow] = {}
    models: dict[str, set[str]] = {}
    for event in sorted(events, key=lambda e: (e.timestamp, e.event_id)):
        row = sessions.get(event.session_id)
        if row is None:
            # Events come in (timestamp, event_id) order: the first one seen is the earliest.
            row = sessions[event.session_id] = {
                "entity_type": None,
                "entity_id": None,
                "turn_count": 0,
                "total_cost_nanos": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_input_tokens": 0,
                "first_seen": event.timestamp,
                "last_seen": event.timestamp,
                "error_count": 0,
                "tags": {},
            }
            models[event.session_id] = set()
        if row["entity_type"] is None and event.entity_type is not None:
            row["entity_type"], row["entity_id"] = event.entity_type, event.entity_id
        row["turn_count"] += 1
        row["total_cost_nanos"] += event.cost_nanos
        row["input_tokens"] += event.input_tokens
        row["output_tokens"] += event.output_tokens
        row["cached_input_tokens"] += event.cached_input_tokens
        row["last_seen"] = max(row["last_seen"], event.timestamp)
        row["error_count"] += event.is_error
        models[event.session_id].add(event.model)
        for key, value in event.tags.items():
            row["tags"].setdefault(key, value)  # the earliest event carrying the key wins
    for session_id, row in sessions.items():
        row["models"] = sorted(models[session_id])
    return sessions


def _events(org_id: int, folded_only: bool) -> Any:
    """The organization's events; with folded_only, only those no longer in the queue (what
    the aggregates must hold while others are still pending)."""
    events = Event.objects.filter(organization_id=org_id)
    if folded_only:
        events = events.exclude(
            pk__in=PendingRollup.objects.filter(organization_id=org_id).values("event_pk")
        )
    return events


def recompute(org_id: int, *, folded_only: bool = False) -> dict[str, SessionRow]:
    """{session_id: aggregate} for every session of the organization, from its stored events."""
    rows = (
        _events(org_id, folded_only)
        .filter(session_id__isnull=False)
        .values_list(
            "session_id",
            "event_id",
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
    return fold(
        OracleEvent(
            session_id=str(session_id),  # filtered: never None
            event_id=event_id,
            timestamp=timestamp,
            entity_type=entity_type,
            entity_id=entity_id,
            cost_nanos=cost_nanos,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            is_error=status == Event.Status.ERROR,
            model=model,
            tags=tags,
        )
        for (
            session_id,
            event_id,
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
        ) in rows.iterator(chunk_size=5000)
    )


def from_api_events(events: Iterable[dict[str, Any]]) -> dict[str, SessionRow]:
    """The aggregates that API events (with timestamps and costs) must produce, each event_id
    counted once (the first copy sent wins, as at ingestion)."""
    unique: dict[str, dict[str, Any]] = {}
    for event in events:
        unique.setdefault(event["event_id"], event)
    return fold(
        OracleEvent(
            session_id=e["session_id"],
            event_id=e["event_id"],
            timestamp=datetime.fromisoformat(e["timestamp"]),
            entity_type=e.get("entity_type"),
            entity_id=e.get("entity_id"),
            # A float cost is the decimal its shortest repr spells, as the JSON body carries it.
            cost_nanos=usd_to_nanos(
                Decimal(repr(e["cost"]) if isinstance(e["cost"], float) else e["cost"])
            ),
            input_tokens=e.get("input_tokens", 0),
            output_tokens=e.get("output_tokens", 0),
            cached_input_tokens=e.get("cached_input_tokens", 0),
            is_error=e.get("status") == "error",
            model=e["model"],
            tags=e.get("tags", {}),
        )
        for e in unique.values()
        if e.get("session_id") is not None
    )


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


# --- the daily cost table -----------------------------------------------------------------

DAILY_FIELDS = (
    "cost_nanos",
    "call_count",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "error_count",
)
# (day, entity_type, entity_id, model, provider), "" for no entity as the table stores it.
DailyKey = tuple[Any, str, str, str, str]


def _add_event(
    row: dict[str, int], cost: int, tin: int, tout: int, tcached: int, status: str
) -> None:
    """One event's share of a daily row's sums."""
    row["cost_nanos"] += cost
    row["call_count"] += 1
    row["input_tokens"] += tin
    row["output_tokens"] += tout
    row["cached_input_tokens"] += tcached
    row["error_count"] += status == Event.Status.ERROR


def recompute_daily(org_id: int, *, folded_only: bool = False) -> dict[DailyKey, dict[str, int]]:
    """{key: sums} for every (UTC day, entity, model, provider) of the organization's stored
    events, summed in Python (every event, with a session or not)."""
    days: dict[DailyKey, dict[str, int]] = {}
    rows = _events(org_id, folded_only).values_list(
        "timestamp",
        "entity_type",
        "entity_id",
        "model",
        "provider",
        "cost_nanos",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "status",
    )
    for ts, etype, eid, model, provider, cost, tin, tout, tcached, status in rows.iterator(
        chunk_size=5000
    ):
        key = (ts.astimezone(UTC).date(), etype or "", eid or "", model, provider)
        _add_event(
            days.setdefault(key, dict.fromkeys(DAILY_FIELDS, 0)), cost, tin, tout, tcached, status
        )
    return days


def snapshot_daily(org_id: int) -> dict[DailyKey, dict[str, int]]:
    """The organization's stored daily cost rows, in the shape `recompute_daily` returns."""
    return {
        (row.pop("day"), row.pop("entity_type"), row.pop("entity_id"), row.pop("model"),
         row.pop("provider")): row
        for row in DailyCost.objects.filter(organization_id=org_id).values(
            "day", "entity_type", "entity_id", "model", "provider", *DAILY_FIELDS
        )
    }  # fmt: skip


# --- the daily tag cost table -------------------------------------------------------------

# (tag_key, day, tag_value)
DailyTagKey = tuple[str, Any, str]


def recompute_daily_tags(
    org_id: int, *, folded_only: bool = False
) -> dict[DailyTagKey, dict[str, int]]:
    """{key: sums} for every (tag key, UTC day, tag value) of the organization's stored events,
    summed in Python: each event adds to one row per tag it carries, and to its day's row of
    all events ("", day, "")."""
    tags: dict[DailyTagKey, dict[str, int]] = {}
    rows = _events(org_id, folded_only).values_list(
        "timestamp",
        "tags",
        "cost_nanos",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "status",
    )
    for ts, event_tags, cost, tin, tout, tcached, status in rows.iterator(chunk_size=5000):
        for tag_key, tag_value in [*event_tags.items(), ("", "")]:
            key = (tag_key, ts.astimezone(UTC).date(), tag_value)
            row = tags.setdefault(key, dict.fromkeys(DAILY_FIELDS, 0))
            _add_event(row, cost, tin, tout, tcached, status)
    return tags


def snapshot_daily_tags(org_id: int) -> dict[DailyTagKey, dict[str, int]]:
    """The organization's stored daily tag rows, in the shape `recompute_daily_tags` returns."""
    return {
        (row.pop("tag_key"), row.pop("day"), row.pop("tag_value")): row
        for row in DailyTagCost.objects.filter(organization_id=org_id).values(
            "tag_key", "day", "tag_value", *DAILY_FIELDS
        )
    }
