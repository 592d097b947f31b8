"""Small helpers of the lifecycle tests: events at given times, straight through the store."""

from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from infraprism.models import Organization
from ingestion.event_store import events_insert
from ingestion.validation import ValidEvent

on_postgres = connection.vendor == "postgresql"


def valid_event(
    event_id: str, when: datetime, *, session_id: str | None = None, cost_nanos: int = 1000
) -> ValidEvent:
    return ValidEvent(
        event_id=event_id,
        timestamp=when,
        model="gpt-4o",
        provider="openai",
        entity_type=None,
        entity_id=None,
        session_id=session_id,
        input_tokens=10,
        output_tokens=5,
        cached_input_tokens=0,
        cost_nanos=cost_nanos,
        latency_ms=100,
        status="success",
        tags={},
    )


def store(organization: Organization, events: list[ValidEvent]) -> set[str]:
    """Insert like ingestion does (one transaction), returning the new event_ids."""
    with transaction.atomic():
        return events_insert(
            organization_id=organization.pk,
            events=[(e, "client") for e in events],
            received_at=timezone.now(),
        )


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def partition_of(event_pk: int) -> str:
    """The table a stored event's row lives in (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM ingestion_event WHERE id = %s", [event_pk]
        )
        row = cursor.fetchone()
    assert row is not None
    return str(row[0])
