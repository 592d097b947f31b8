"""Building, ingesting and re-ordering events for the rollup tests."""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from ingestion.models import Event
from ingestion.services import events_ingest
from sessions.models import PendingRollup

# A fixed day in the past: every test timestamp is valid whenever the suite runs.
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: float = 0, *, micros: int = 0) -> str:
    """An ISO 8601 timestamp `minutes` after T0 (negative: before)."""
    return (T0 + timedelta(minutes=minutes, microseconds=micros)).isoformat()


def ingest_http(client: Any, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """POST the events as one batch; every one must be accepted (new or duplicate)."""
    response = client.post_json("/v1/events/batch", {"events": list(events)})
    assert response.status_code == 202, response.content
    body: dict[str, Any] = response.json()
    return body


def ingest(org_id: int, events: Sequence[dict[str, Any]]) -> int:
    """Ingest through the service (costs as Decimal); returns how many were new."""
    result = events_ingest(organization_id=org_id, items=list(events))
    assert not result.errors, result.errors
    return len(result.new_event_ids)


def pending(org_id: int) -> int:
    return PendingRollup.objects.filter(organization_id=org_id).count()


def requeue_in_order(org_id: int, event_ids: Iterable[str]) -> None:
    """Rewrite the organization's pending queue so the events are claimed in the given order.

    Chunks claim the lowest queue ids (within a session, at least), so a drain with limit=1
    then folds the events one by one in this order: the order a slow or retried worker could
    produce. The queue rows are copied whole, whatever columns they carry.
    """
    order = list(event_ids)
    pks = dict(
        Event.objects.filter(organization_id=org_id, event_id__in=order).values_list(
            "event_id", "pk"
        )
    )
    queued = {row.event_pk: row for row in PendingRollup.objects.filter(organization_id=org_id)}
    assert sorted(pks[e] for e in order) == sorted(queued), "name exactly the pending events"
    PendingRollup.objects.filter(organization_id=org_id).delete()
    copies = []
    for event_id in order:
        row = queued[pks[event_id]]
        row.pk = None
        copies.append(row)
    PendingRollup.objects.bulk_create(copies)


def database_url_for_subprocess() -> str:
    """A DATABASE_URL for subprocesses: the database this test process is really using."""
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"
