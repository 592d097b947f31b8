"""(organization, event_id) idempotency holds across monthly partitions, on both engines:
the same event_id sent twice with timestamps a month apart is one event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ingestion.event_store import SMALL_BATCH
from ingestion.models import Event, EventKey
from lifecycle import partitions
from lifecycle.months import month_of, partition_name
from sessions.models import PendingRollup
from tests.factories import event
from tests.lifecycle.helpers import on_postgres, partition_of, store, utc, valid_event

pytestmark = pytest.mark.django_db


def test_same_event_id_a_month_apart_is_one_event_over_http(client, other_client) -> None:
    now = timezone.now()
    first = client.post_json(
        "/v1/events", event("dup-1", timestamp=(now - timedelta(days=40)).isoformat())
    )
    again = client.post_json("/v1/events", event("dup-1", timestamp=now.isoformat()))
    assert first.status_code == 202 and again.status_code == 202
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    stored = Event.objects.get(organization=client.organization, event_id="dup-1")
    assert abs(stored.timestamp - (now - timedelta(days=40))) < timedelta(seconds=1)
    # In a batch too, and another organization's same id is its own event.
    batch = client.post_json(
        "/v1/events/batch",
        {"events": [event("dup-1", timestamp=(now - timedelta(days=80)).isoformat())]},
    )
    assert batch.json()["duplicates"] == 1
    other = other_client.post_json("/v1/events", event("dup-1", timestamp=now.isoformat()))
    assert other.json()["duplicate"] is False
    assert Event.objects.filter(event_id="dup-1").count() == 2


@pytest.mark.parametrize("size", [2, SMALL_BATCH + 4], ids=["inline", "copy"])
def test_events_insert_across_months(org, size: int) -> None:
    months = [utc(2025, 1, 15), utc(2025, 2, 15), utc(2025, 3, 15)]
    events = [valid_event(f"e-{i}", months[i % 3], session_id="s") for i in range(size)]
    assert store(org, events) == {f"e-{i}" for i in range(size)}
    # Every id again, each a month later than before (and one id twice in the batch).
    again = [valid_event(f"e-{i}", months[(i + 1) % 3]) for i in range(size)]
    again.append(valid_event("new", months[0]))
    again.append(valid_event("new", months[2]))
    assert store(org, again) == {"new"}
    assert Event.objects.filter(organization=org).count() == size + 1
    assert Event.objects.get(organization=org, event_id="new").timestamp == months[0]
    assert PendingRollup.objects.filter(organization_id=org.pk).count() == size + 1
    if on_postgres:
        assert EventKey.objects.filter(organization_id=org.pk).count() == size + 1
        assert {partition_of(e.pk) for e in Event.objects.filter(organization=org)} == {
            partition_name(month_of(months[i % 3])) for i in range(size)
        }


def test_a_backfilled_month_without_partition_gets_one(client) -> None:
    partitions.forget_known_months()
    response = client.post_json(
        "/v1/events/batch",
        {
            "events": [
                event("old-1", timestamp="2003-07-04T12:00:00Z"),
                event("old-2", timestamp="2003-07-31T23:59:59Z"),
            ]
        },
    )
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 2
    stored = Event.objects.filter(organization=client.organization)
    assert stored.count() == 2
    if on_postgres:
        assert {partition_of(e.pk) for e in stored} == {"ingestion_event_y2003m07"}


def test_model_pk_lookups_and_orm_queries_work(org) -> None:
    store(org, [valid_event("a", utc(2025, 5, 1)), valid_event("b", utc(2025, 6, 1))])
    a = Event.objects.for_organization(org).get(event_id="a")
    assert Event.objects.get(pk=a.pk).event_id == "a"
    assert list(
        Event.objects.filter(organization=org)
        .order_by("timestamp")
        .values_list("event_id", flat=True)
    ) == ["a", "b"]
    Event.objects.filter(pk=a.pk).update(model="gpt-4o-mini")
    assert Event.objects.get(pk=a.pk).model == "gpt-4o-mini"
