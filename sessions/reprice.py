"""Re-pricing: recompute computed costs from the current price table, and move every aggregate
by the exact difference, once.

Which events: the organization's events with cost_source "computed" or "unpriced" (optionally
one model, and a range of UTC dates), priced again with ingestion.pricing.PriceBook as ingestion
prices them (the event's UTC date). Client-sent costs are never read for a change. An event the
current table cannot price keeps its cost and source.

Exactly once, even when a run is killed and started again: the events go in id order, in
chunks, and each chunk is one transaction that updates the events and, for each changed event,
either its pending queue row (not yet folded: the rollup will fold the new cost) or the folded
aggregates (its session, its daily cost row and its daily tag rows) by the difference. A
restarted run finds the events already re-priced with a difference of zero and skips them.

Against a concurrent rollup (PostgreSQL): the chunk locks its events, then their queue rows
(FOR UPDATE). The rollup claims with SKIP LOCKED, so it passes over a row this chunk holds and
folds it later at the new cost; a row the rollup has already claimed makes this chunk wait for
the rollup's commit, after which the row is gone and the chunk adds the difference to the
aggregates the rollup just wrote. Aggregates are then updated in key order (the rollup's lock
order: sessions, then daily rows, then daily tag rows). SQLite has one writer: the touched
sessions and days are recomputed from the events, as its rollup does.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from ingestion.models import Event
from ingestion.pricing import PriceBook
from sessions.models import DailyCost, DailyTagCost, PendingRollup, Session
from sessions.rollup.sqlite import create_touched_tables, recompute_touched
from sessions.rollup.tag_daily import ALL_EVENTS
from sessions.signals import costs_changed

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
_REPRICED = (Event.CostSource.COMPUTED, Event.CostSource.UNPRICED)
_FIELDS = (
    "id", "model", "timestamp", "input_tokens", "output_tokens", "cached_input_tokens",
    "cost_nanos", "cost_source", "price_id", "session_id", "entity_type", "entity_id",
    "provider",
)  # fmt: skip


@dataclass
class ModelChange:
    events: int = 0
    difference_nanos: int = 0


@dataclass
class RepriceResult:
    events_changed: int = 0
    chunks: int = 0
    by_model: dict[str, ModelChange] = field(default_factory=lambda: defaultdict(ModelChange))

    @property
    def difference_nanos(self) -> int:
        return sum(change.difference_nanos for change in self.by_model.values())


@dataclass(frozen=True)
class _Change:
    event: Event
    old_cost_nanos: int
    cost_nanos: int
    price_id: int

    @property
    def difference(self) -> int:
        return self.cost_nanos - self.old_cost_nanos


def _events(organization_id: int, model: str | None, since: date | None, until: date | None) -> Any:
    events = Event.objects.filter(organization_id=organization_id, cost_source__in=_REPRICED)
    if model is not None:
        events = events.filter(model=model)
    if since is not None:
        events = events.filter(timestamp__gte=datetime.combine(since, time.min, tzinfo=UTC))
    if until is not None:  # inclusive: up to the end of that UTC day
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
        events = events.filter(timestamp__lt=end)
    return events.only(*_FIELDS).order_by("id")


def _changes(book: PriceBook, events: list[Event]) -> list[_Change]:
    changes = []
    for event in events:
        price = book.lookup(event.model, event.timestamp.astimezone(UTC).date())
        if price is None:
            continue  # nothing prices it now: keep what it has
        cost = price.cost_nanos(event.input_tokens, event.output_tokens, event.cached_input_tokens)
        if (cost, price.id, event.cost_source) != (
            event.cost_nanos,
            event.price_id,
            Event.CostSource.COMPUTED,
        ):
            changes.append(_Change(event, event.cost_nanos, cost, price.id))
    return changes


def reprice(
    *,
    organization_id: int,
    model: str | None = None,
    since: date | None = None,
    until: date | None = None,
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    after_chunk: Callable[[RepriceResult], None] | None = None,
) -> RepriceResult:
    """Re-price the organization's computed and unpriced events (see the module docstring).
    `after_chunk` runs after each committed chunk (progress; tests inject a crash there)."""
    book = PriceBook.current(organization_id)
    events = _events(organization_id, model, since, until)
    result = RepriceResult()
    after_id = 0
    while True:
        with transaction.atomic():
            chunk_query = events.filter(id__gt=after_id)
            if not dry_run:
                chunk_query = chunk_query.select_for_update(of=("self",))
            chunk = list(chunk_query[:chunk_size])
            if not chunk:
                break
            after_id = chunk[-1].id
            changes = _changes(book, chunk)
            if changes and not dry_run:
                _apply(organization_id, changes)
        result.chunks += 1
        for change in changes:
            per_model = result.by_model[change.event.model]
            per_model.events += 1
            per_model.difference_nanos += change.difference
        result.events_changed += len(changes)
        if changes and not dry_run:
            costs_changed.send(sender=reprice, organization_id=organization_id)
        if after_chunk is not None:
            after_chunk(result)
    logger.info(
        "reprice org=%d events_changed=%d difference_nanos=%d chunks=%d dry_run=%s",
        organization_id,
        result.events_changed,
        result.difference_nanos,
        result.chunks,
        dry_run,
    )
    return result


def _apply(organization_id: int, changes: list[_Change]) -> None:
    """One chunk's writes, inside its transaction."""
    for change in changes:
        change.event.cost_nanos, change.event.price_id = change.cost_nanos, change.price_id
        change.event.cost_source = Event.CostSource.COMPUTED
    updated = [change.event for change in changes]
    pks = [event.pk for event in updated]
    differences = {change.event.pk: change.difference for change in changes}
    Event.objects.bulk_update(updated, ["cost_nanos", "cost_source", "price_id"], batch_size=500)
    queued = {
        row.event_pk: row
        for row in PendingRollup.objects.filter(organization_id=organization_id, event_pk__in=pks)
        .select_for_update()
        .order_by("id")
    }
    for event in updated:
        if (row := queued.get(event.pk)) is not None:
            row.cost_nanos = event.cost_nanos
    PendingRollup.objects.bulk_update(list(queued.values()), ["cost_nanos"], batch_size=500)
    folded = [event for event in updated if event.pk not in queued]
    if connection.vendor == "postgresql":
        _add_differences(organization_id, folded, differences)
    else:
        _recompute(organization_id, updated)


def _daily_key(event: Event) -> tuple[date, str, str, str, str]:
    day = event.timestamp.astimezone(UTC).date()
    return (day, event.entity_type or "", event.entity_id or "", event.model, event.provider)


def _add_differences(
    organization_id: int, folded: list[Event], differences: dict[int, int]
) -> None:
    """PostgreSQL: folded events' aggregates move by the difference, in the rollup's lock
    order (sessions by session_id, then daily rows by key, then daily tag rows by key)."""
    per_session: dict[str, int] = defaultdict(int)
    per_day: dict[tuple[date, str, str, str, str], int] = defaultdict(int)
    for event in folded:
        if event.session_id is not None:
            per_session[event.session_id] += differences[event.pk]
        per_day[_daily_key(event)] += differences[event.pk]
    for session_id, difference in sorted(per_session.items()):
        if difference:
            Session.objects.filter(organization_id=organization_id, session_id=session_id).update(
                total_cost_nanos=F("total_cost_nanos") + difference
            )
    for (day, entity_type, entity_id, model, provider), difference in sorted(per_day.items()):
        if difference:
            DailyCost.objects.filter(
                organization_id=organization_id,
                day=day,
                entity_type=entity_type,
                entity_id=entity_id,
                model=model,
                provider=provider,
            ).update(cost_nanos=F("cost_nanos") + difference)
    # Python sorts str by code point: the rollup's lock order (tag_daily.LOCK_ORDER).
    for (tag_key, day, tag_value), difference in sorted(
        _tag_differences(organization_id, folded, differences).items()
    ):
        if difference:
            DailyTagCost.objects.filter(
                organization_id=organization_id, tag_key=tag_key, day=day, tag_value=tag_value
            ).update(cost_nanos=F("cost_nanos") + difference)


def _tag_differences(
    organization_id: int, folded: list[Event], differences: dict[int, int]
) -> dict[tuple[str, date, str], int]:
    """Per daily tag row (tag_key, day, tag_value), the folded events' difference: each
    event's day row of all events (ALL_EVENTS), and a row per tag it carries, read as the
    rollup reads them (the text `tags ->> key` gives, for each key)."""
    changed = {event.pk: event for event in folded if differences[event.pk]}
    per_tag: dict[tuple[str, date, str], int] = defaultdict(int)
    for pk, event in changed.items():
        day = event.timestamp.astimezone(UTC).date()
        per_tag[(ALL_EVENTS, day, ALL_EVENTS)] += differences[pk]
    if not changed:
        return per_tag
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.id, t.key, t.value FROM {Event._meta.db_table} e "
            "CROSS JOIN LATERAL jsonb_each_text(e.tags) t "
            "WHERE e.organization_id = %s AND e.id = ANY(%s)",
            [organization_id, sorted(changed)],
        )
        for pk, tag_key, tag_value in cursor.fetchall():
            day = changed[pk].timestamp.astimezone(UTC).date()
            per_tag[(tag_key, day, tag_value)] += differences[pk]
    return per_tag


def _recompute(organization_id: int, updated: list[Event]) -> None:
    """SQLite: recompute the changed events' sessions and days (the rollup's own way)."""
    sessions = sorted({e.session_id for e in updated if e.session_id is not None})
    days = sorted({e.timestamp.astimezone(UTC).date().isoformat() for e in updated})
    with connection.cursor() as cursor:
        create_touched_tables(
            cursor,
            f"SELECT organization_id, session_id FROM {Session._meta.db_table} WHERE 0",
            f"SELECT organization_id, day FROM {DailyCost._meta.db_table} WHERE 0",
            [],
        )
        cursor.executemany(
            "INSERT INTO rollup_touched VALUES (%s, %s)", [(organization_id, s) for s in sessions]
        )
        cursor.executemany(
            "INSERT INTO rollup_days VALUES (%s, %s)", [(organization_id, d) for d in days]
        )
        recompute_touched(cursor)
