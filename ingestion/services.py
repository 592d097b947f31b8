"""Ingestion writes: validate a whole batch, price it, store it durably, schedule the rollup."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from ingestion.event_store import events_insert, is_one_statement
from ingestion.group_commit import GroupCommit
from ingestion.models import Event
from ingestion.pricing import PriceBook
from ingestion.rollup_kick import rollup_kick_on_commit
from ingestion.validation import ValidEvent, latest_timestamp, validate_event
from metrics.hooks import events_counted
from sessions.rollup import queue
from sessions.scheduling import rollup_schedule_on_commit

# Requests of up to this many events go through ingestion/group_commit.py (grouped or not);
# larger ones commit in a transaction of their own.
GROUP_COMMIT_MAX_EVENTS = 16


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
    latest = latest_timestamp(now)
    for index, item in enumerate(items):
        outcome = validate_event(item, now, latest)
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


def events_store(
    organization_id: int,
    events: Sequence[tuple[ValidEvent, str]],
    received_at: datetime,
    schedule: Callable[..., None] = rollup_schedule_on_commit,
) -> set[str]:
    """Insert priced events inside the caller's transaction; returns the event_ids that were
    new. The rollup is scheduled (`schedule`) after that transaction commits."""
    new_event_ids = events_insert(
        organization_id=organization_id, events=events, received_at=received_at
    )
    valid = [event for event, _ in events]
    if any(queue.is_queued(e.session_id) and e.event_id in new_event_ids for e in valid):
        schedule(organization_id=organization_id)
    return new_event_ids


def _store_in_group(
    organization_id: int, events: Sequence[tuple[ValidEvent, str]], received_at: datetime
) -> set[str]:
    # Requests answered by a group commit do not wait for the rollup's Redis call either.
    return events_store(organization_id, events, received_at, schedule=rollup_kick_on_commit)


# Small ingests: one statement each, or concurrent ones sharing a transaction when
# INGEST_GROUP_COMMIT is on (ingestion/group_commit.py).
_group_commit = GroupCommit(_store_in_group, one_statement=is_one_statement)


def _is_small_write(events: Sequence[tuple[ValidEvent, str]]) -> bool:
    # Not inside a caller's transaction (the events must join it), not on SQLite (one writer
    # at a time anyway), not for batches (one request already fills a transaction).
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and len(events) <= GROUP_COMMIT_MAX_EVENTS
    )


def events_ingest(*, organization_id: int, items: list[Any]) -> IngestResult:
    """Validate every item first, then store the valid ones in one set-based write.

    The events are durable when this returns; the rollup is scheduled after the commit.
    """
    now = datetime.now(UTC)
    return events_accept(
        organization_id=organization_id, result=events_validate(items=items, now=now), now=now
    )


def events_accept(*, organization_id: int, result: IngestResult, now: datetime) -> IngestResult:
    """Store the valid events of a validated request (`now`: when it was received)."""
    if not result.valid:
        events_counted(
            organization_id=organization_id, accepted=0, duplicates=0, rejected=result.rejected
        )
        return result
    priced = events_price(organization_id=organization_id, events=result.valid)
    if _is_small_write(priced):
        result.new_event_ids = _group_commit.write(
            organization_id=organization_id,
            events=priced,
            event_ids=frozenset(e.event_id for e in result.valid),
            received_at=now,
            grouped=settings.INGEST_GROUP_COMMIT,
        )
    else:
        with transaction.atomic():
            result.new_event_ids = events_store(organization_id, priced, now)
    result.accepted = len(result.valid)
    result.duplicates = result.accepted - len(result.new_event_ids)
    events_counted(
        organization_id=organization_id,
        accepted=len(result.new_event_ids),
        duplicates=result.duplicates,
        rejected=result.rejected,
    )
    return result
