"""event_id is the idempotency key: a repeat is accepted, reported, and changes nothing."""

from collections.abc import Callable
from typing import Any

import pytest
from django.forms.models import model_to_dict

from infraprism.models import Organization
from ingestion.models import Event
from sessions.models import PendingRollup
from sessions.rollup.queue import is_queued
from tests.conftest import KeyClient
from tests.ingest_helpers import BATCH, EVENTS, client_event

pytestmark = pytest.mark.django_db


def stored(organization: Organization, event_id: str) -> dict[str, Any]:
    row = Event.objects.get(organization=organization, event_id=event_id)
    return {**model_to_dict(row), "pk": row.pk, "received_at": row.received_at}


def pending_event_pks(organization: Organization) -> list[int]:
    return sorted(
        PendingRollup.objects.filter(organization_id=organization.pk).values_list(
            "event_pk", flat=True
        )
    )


def queued_event_pks(events: Any) -> list[int]:
    """The stored events the rollup queue must hold: those queue.is_queued picks (every event
    since the daily cost table; only those with a session before)."""
    return sorted(
        pk for pk, session_id in events.values_list("pk", "session_id") if is_queued(session_id)
    )


def test_repeated_event_id_is_a_duplicate_and_changes_nothing(client: KeyClient) -> None:
    first = {
        "event_id": "evt-1",
        "timestamp": "2025-01-01T00:00:00Z",
        "session_id": "s-1",
        "entity_type": "customer",
        "entity_id": "acme",
        "input_tokens": 10,
        "tags": {"a": "1"},
        **client_event(),
    }
    response = client.post_json(EVENTS, first)
    assert response.status_code == 202
    assert response.json() == {"event_id": "evt-1", "duplicate": False}
    before = stored(client.organization, "evt-1")
    pending_before = pending_event_pks(client.organization)

    different = {
        "event_id": "evt-1",
        "timestamp": "2025-02-02T00:00:00Z",
        "model": "claude-3-5-sonnet-20241022",
        "session_id": "s-2",
        "input_tokens": 99999,
        "cost": 12.5,
        "status": "error",
        "tags": {"b": "2"},
    }
    for repeat in (first, different, first):
        response = client.post_json(EVENTS, repeat)
        assert response.status_code == 202, response.content
        assert response.json() == {"event_id": "evt-1", "duplicate": True}

    assert Event.objects.count() == 1
    assert stored(client.organization, "evt-1") == before
    assert pending_event_pks(client.organization) == pending_before == [before["pk"]]


def test_repeated_event_id_in_a_batch_is_counted_as_duplicate(client: KeyClient) -> None:
    assert client.post_json(EVENTS, client_event(event_id="old", session_id="s")).status_code == 202
    before = stored(client.organization, "old")
    response = client.post_json(
        BATCH, {"events": [client_event(event_id="old", cost=9.99), client_event(event_id="new")]}
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "duplicates": 1, "rejected": 0, "errors": []}
    assert stored(client.organization, "old") == before
    assert Event.objects.count() == 2


def test_duplicates_within_one_batch_store_the_first(client: KeyClient) -> None:
    events = [
        client_event(event_id="a", cost=1, session_id="s"),
        client_event(event_id="b"),
        client_event(event_id="a", cost=2, session_id="s"),
        client_event(event_id="a", cost=3, session_id="other"),
    ]
    response = client.post_json(BATCH, {"events": events})
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 4, "duplicates": 2, "rejected": 0, "errors": []}
    assert Event.objects.count() == 2
    a = Event.objects.get(event_id="a")
    assert (a.cost_nanos, a.session_id) == (1_000_000_000, "s")
    assert pending_event_pks(client.organization) == queued_event_pks(Event.objects.all())


def test_duplicates_across_batches(client: KeyClient) -> None:
    first = [client_event(event_id=f"e-{i}") for i in range(10)]
    response = client.post_json(BATCH, {"events": first})
    assert response.json() == {"accepted": 10, "duplicates": 0, "rejected": 0, "errors": []}
    # Half replayed, half new, plus a bad item that is neither.
    second = [client_event(event_id=f"e-{i}") for i in range(5, 15)] + [{"event_id": "e-0"}]
    response = client.post_json(BATCH, {"events": second})
    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (10, 5, 1)
    assert body["errors"][0]["event_id"] == "e-0"
    # A full replay is all duplicates.
    response = client.post_json(BATCH, {"events": second[:-1]})
    assert response.json() == {"accepted": 10, "duplicates": 10, "rejected": 0, "errors": []}
    assert Event.objects.count() == 15


def test_single_then_batch_then_single_agree_on_duplicates(client: KeyClient) -> None:
    assert (
        client.post_json(BATCH, {"events": [client_event(event_id="x")]}).json()["duplicates"] == 0
    )
    assert client.post_json(EVENTS, client_event(event_id="x")).json()["duplicate"] is True
    assert (
        client.post_json(BATCH, {"events": [client_event(event_id="x")]}).json()["duplicates"] == 1
    )


def test_same_event_id_in_two_organizations_is_two_events(
    client: KeyClient, other_client: KeyClient
) -> None:
    mine = client.post_json(EVENTS, client_event(event_id="shared", cost=1, session_id="s"))
    theirs = other_client.post_json(EVENTS, client_event(event_id="shared", cost=2, session_id="s"))
    assert mine.json() == {"event_id": "shared", "duplicate": False}
    assert theirs.json() == {"event_id": "shared", "duplicate": False}
    assert stored(client.organization, "shared")["cost_nanos"] == 1_000_000_000
    assert stored(other_client.organization, "shared")["cost_nanos"] == 2_000_000_000
    assert len(pending_event_pks(client.organization)) == 1
    assert len(pending_event_pks(other_client.organization)) == 1
    # And each stays idempotent within its own organization.
    assert (
        other_client.post_json(EVENTS, client_event(event_id="shared")).json()["duplicate"] is True
    )
    assert Event.objects.count() == 2


def test_a_1000_event_batch_is_accepted_in_one_request(client: KeyClient) -> None:
    events = [
        client_event(event_id=f"bulk-{i}", session_id=f"s-{i % 7}" if i % 2 else None)
        for i in range(1000)
    ]
    for item in events:
        if item["session_id"] is None:
            del item["session_id"]
    response = client.post_json(BATCH, {"events": events})
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1000, "duplicates": 0, "rejected": 0, "errors": []}
    assert Event.objects.filter(organization=client.organization).count() == 1000
    assert set(Event.objects.values_list("event_id", flat=True)) == {
        f"bulk-{i}" for i in range(1000)
    }
    assert Event.objects.filter(session_id__isnull=False).count() == 500
    assert pending_event_pks(client.organization) == queued_event_pks(Event.objects.all())


def test_pending_rollup_rows_exactly_once_per_new_session_event(
    client: KeyClient, client_for: Callable[..., KeyClient]
) -> None:
    client.post_json(EVENTS, client_event(event_id="s1", session_id="conv"))
    client.post_json(EVENTS, client_event(event_id="no-session"))
    client.post_json(
        BATCH,
        {
            "events": [
                client_event(event_id="s1", session_id="conv"),  # duplicate
                client_event(event_id="s2", session_id="conv"),
                client_event(event_id="s2", session_id="conv"),  # duplicate in the batch
                client_event(event_id="no-session-2"),
                {"event_id": "rejected", "session_id": "conv"},  # no model
            ]
        },
    )
    client.post_json(EVENTS, client_event(event_id="s1", session_id="conv"))  # duplicate again
    # A second key of the same organization sees the same events.
    client_for(client.organization).post_json(BATCH, {"events": [client_event(event_id="s2")]})

    assert Event.objects.count() == 4
    assert sorted(Event.objects.values_list("event_id", flat=True)) == [
        "no-session",
        "no-session-2",
        "s1",
        "s2",
    ]
    # One queue row per new event (that the rollup folds), none for a duplicate.
    expected = queued_event_pks(Event.objects.all())
    assert pending_event_pks(client.organization) == expected
    assert PendingRollup.objects.count() == len(expected)
