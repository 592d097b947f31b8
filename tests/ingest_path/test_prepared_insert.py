"""The single-event insert runs as a prepared statement on the raw psycopg connection
(ingestion/event_store.py): one statement per connection whatever the values, inside the
caller's Django transaction, with the values stored exactly."""

from dataclasses import replace

import pytest
from django.db import connection, transaction

from ingestion.event_store import events_insert
from ingestion.models import Event, EventKey
from sessions.models import PendingRollup
from tests.lifecycle.helpers import store, utc, valid_event

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared on PostgreSQL only"),
]


def _prepared_inserts() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements "
            "WHERE statement LIKE %s AND statement LIKE %s",
            ["%ingestion_eventkey%", "%VALUES%"],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_one_prepared_statement_for_any_values_and_values_stored_exactly(org) -> None:
    big = valid_event("big", utc(2026, 3, 1), session_id="s-1", cost_nanos=9_000_000_000_123)
    big = replace(big, input_tokens=3_000_000_000, latency_ms=2**40, tags={"team": "a"})
    small = valid_event("small", utc(2026, 4, 2), cost_nanos=7)  # another month, no session
    assert store(org, [big]) == {"big"}
    assert store(org, [small]) == {"small"}
    assert store(org, [small]) == set()  # a duplicate: no row, reported as not new
    # psycopg types each int by its size (int2/int4/int8): without bigint for all, the
    # values above would make two statements. (A None where the other has an int still
    # makes one more: a NULL has no type.)
    assert _prepared_inserts() == 1
    stored = Event.objects.get(organization=org, event_id="big")
    assert (stored.input_tokens, stored.cost_nanos, stored.latency_ms) == (
        3_000_000_000,
        9_000_000_000_123,
        2**40,
    )
    assert stored.tags == {"team": "a"}
    assert Event.objects.get(organization=org, event_id="small").cost_nanos == 7
    assert Event.objects.filter(organization=org).count() == 2
    assert PendingRollup.objects.filter(event_pk=stored.pk).count() == 1


def test_the_insert_is_part_of_the_callers_transaction(org) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        events_insert(
            organization_id=org.pk,
            events=[(valid_event("gone", utc(2026, 3, 1), session_id="s-1"), "client")],
            received_at=utc(2026, 3, 1),
        )
        assert Event.objects.filter(event_id="gone").exists()
        raise RuntimeError("the caller fails after the insert")
    assert not Event.objects.filter(event_id="gone").exists()
    assert not EventKey.objects.filter(event_id="gone").exists()
    assert store(org, [valid_event("gone", utc(2026, 3, 1))]) == {"gone"}
