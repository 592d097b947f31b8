"""Ingestion writes: validate a whole batch, price it, store it durably, schedule the rollup."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from ingestion.event_store import events_insert
from ingestion.models import Event
from ingestion.pricing import PriceBook
from ingestion.validation import ValidEvent, validate_event
from metrics.hooks import events_counted
from sessions.rollup import queue
from sessions.scheduling import rollup_schedule_on_commit


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    new_event_ids: set[str] = field(default_factory=set)
    valid: list[ValidEvent] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


def _event_id_of(item: Any) -> Any:
    value = item.get("event_id") if isinstance(item, dict) else getattr(item, "event_id", None)
    return value if isinstance(value, str) else None


def events_validate(*, items: list[Any], now: datetime) -> IngestResult:
    result = IngestResult()
    for index, item in enumerate(items):
        outcome = validate_event(item, now)
        if isinstance(outcome, ValidEvent):
            result.valid.append(outcome)
        else:
            result.errors.append(
                {"index": index, "event_id": _event_id_of(item), "errors": outcome}
            )
    return result


def events_price(*, organization_id: int, events: list[ValidEvent]) -> list[tuple[ValidEvent, str]]:
    """Pair each event with its cost source, computing the cost of those sent without one."""
    if all(event.cost_nanos is not None for event in events):
        return [(event, Event.CostSource.CLIENT) for event in events]
    book = PriceBook.for_organization(organization_id)
    priced: list[tuple[ValidEvent, str]] = []
    for event in events:
        if event.cost_nanos is not None:
            priced.append((event, Event.CostSource.CLIENT))
            continue
        price = book.lookup(event.model, event.timestamp.date())
        if price is None:
            event.cost_nanos = 0
            priced.append((event, Event.CostSource.UNPRICED))
        else:
            event.cost_nanos = price.cost_nanos(
                event.input_tokens, event.output_tokens, event.cached_input_tokens
            )
            event.price_id = price.id
            priced.append((event, Event.CostSource.COMPUTED))
    return priced


def events_ingest(*, organization_id: int, items: list[Any]) -> IngestResult:
    """Validate every item first, then store the valid ones in one set-based write.

    The events are durable when this returns; the rollup is scheduled after the commit.
    """
    now = datetime.now(UTC)
    result = events_validate(items=items, now=now)
    if not result.valid:
        events_counted(
            organization_id=organization_id, accepted=0, duplicates=0, rejected=result.rejected
        )
        return result
    priced = events_price(organization_id=organization_id, events=result.valid)
    with transaction.atomic():
        result.new_event_ids = events_insert(
            organization_id=organization_id, events=priced, received_at=now
        )
        if any(
            queue.is_queued(e.session_id) and e.event_id in result.new_event_ids
            for e in result.valid
        ):
            rollup_schedule_on_commit(organization_id=organization_id)
    result.accepted = len(result.valid)
    result.duplicates = result.accepted - len(result.new_event_ids)
    events_counted(
        organization_id=organization_id,
        accepted=len(result.new_event_ids),
        duplicates=result.duplicates,
        rejected=result.rejected,
    )
    return result
