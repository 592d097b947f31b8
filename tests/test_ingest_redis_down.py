"""Redis is an accelerator, never a dependency of accepting data (SPEC sections 4 and 8).

With Redis unreachable, ingestion still answers 202 and the events and their rollup work are
durable in PostgreSQL; the per-key rate limiter answers 429 with Retry-After when Redis is up
and fails open when it is not.
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings

from infraprism import redis_client
from ingestion.models import Event
from sessions.models import PendingRollup, Session
from sessions.rollup.queue import is_queued
from tests.conftest import KeyClient
from tests.ingest_helpers import BATCH, EVENTS, client_event, json_error_body
from tests.waiting import sleep_into_fresh_window

pytestmark = pytest.mark.django_db

CLOSED_REDIS = "redis://127.0.0.1:1/0"
CLOSED_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CLOSED_REDIS,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


def _reset_redis_client() -> None:
    redis_client._client = None
    redis_client._down_until = 0.0


@pytest.fixture(autouse=True)
def _fresh_redis_state() -> Iterator[None]:
    """No back-off or client left over from another test, and none left behind."""
    _reset_redis_client()
    cache.clear()
    yield
    _reset_redis_client()
    cache.clear()


@pytest.fixture
def redis_down(settings: Any) -> None:
    settings.REDIS_URL = CLOSED_REDIS
    settings.ROLLUP_IN_PROCESS = False


# --- Redis down: ingestion carries on -------------------------------------------------------


def test_single_event_is_accepted_and_durable_while_redis_is_down(
    client: KeyClient,
    redis_down: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
    rollup: Callable[[], Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post_json(EVENTS, client_event(event_id="e-1", session_id="s-1"))
    assert response.status_code == 202, response.content
    assert response.json() == {"event_id": "e-1", "duplicate": False}
    assert len(callbacks) == 1, "the rollup was not scheduled after commit"
    # The scheduler tried Redis, failed, and backed off instead of failing the request.
    assert redis_client._down_until > time.monotonic()

    stored = Event.objects.get(organization=client.organization, event_id="e-1")
    assert list(PendingRollup.objects.values_list("organization_id", "event_pk")) == [
        (client.organization.pk, stored.pk)
    ]
    # The periodic sweep picks up what was accepted while Redis was down.
    rollup()
    assert PendingRollup.objects.count() == 0
    assert Session.objects.get(organization=client.organization, session_id="s-1").turn_count == 1


def test_batches_keep_being_accepted_during_the_back_off(
    client: KeyClient,
    redis_down: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post_json(BATCH, {"events": [client_event(event_id="a", session_id="s")]})
    assert first.status_code == 202, first.content
    down_until = redis_client._down_until
    assert down_until > 0

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = client.post_json(
            BATCH,
            {
                "events": [
                    client_event(event_id="b", session_id="s"),
                    client_event(event_id="c"),
                    client_event(),
                ]
            },
        )
        single = client.post_json(EVENTS, client_event(event_id="d", session_id="t"))
    assert second.status_code == 202, second.content
    assert second.json()["accepted"] == 3
    assert single.status_code == 202, single.content
    assert len(callbacks) == 2
    # Inside the back-off window Redis is not even tried again.
    assert redis_client._down_until == down_until

    assert Event.objects.filter(organization=client.organization).count() == 5
    # Every stored event is queued for the rollup (sessions and the daily cost table).
    queued_pks = {
        pk
        for pk, session_id in Event.objects.values_list("pk", "session_id")
        if is_queued(session_id)
    }
    assert len(queued_pks) == 5
    assert set(PendingRollup.objects.values_list("event_pk", flat=True)) == queued_pks


def test_duplicates_while_redis_is_down_add_no_rollup_work(
    client: KeyClient,
    redis_down: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            response = client.post_json(EVENTS, client_event(event_id="same", session_id="s"))
            assert response.status_code == 202, response.content
    assert Event.objects.count() == 1
    assert PendingRollup.objects.count() == 1


# --- rate limits ----------------------------------------------------------------------------


def test_fourth_request_in_the_window_is_429_with_retry_after(
    client: KeyClient, settings: Any
) -> None:
    settings.INGEST_RATE_LIMIT = "3/min"
    sleep_into_fresh_window(60, min_left=5)  # the test's requests share one 60 s window
    for i in range(3):
        response = client.post_json(EVENTS, client_event(event_id=f"ok-{i}"))
        assert response.status_code == 202, response.content
    for path, body in (
        (EVENTS, client_event(event_id="over")),
        (BATCH, {"events": [client_event()]}),
    ):
        response = client.post_json(path, body)
        error = json_error_body(response, 429)
        assert error["error"] == "rate_limited"
        retry_after = int(response["Retry-After"])
        assert 1 <= retry_after <= 60
        assert str(retry_after) in error["detail"]
    assert Event.objects.count() == 3


def test_rate_limit_is_per_key(
    client: KeyClient,
    other_client: KeyClient,
    client_for: Callable[..., KeyClient],
    settings: Any,
) -> None:
    settings.INGEST_RATE_LIMIT = "3/min"
    sleep_into_fresh_window(60, min_left=5)  # the test's requests share one 60 s window
    for _ in range(3):
        assert client.post_json(EVENTS, client_event()).status_code == 202
    assert client.post_json(EVENTS, client_event()).status_code == 429
    # A second key of the same organization, and another organization's key, are unaffected.
    same_org_key = client_for(client.organization)
    for _ in range(3):
        assert same_org_key.post_json(EVENTS, client_event()).status_code == 202
        assert other_client.post_json(EVENTS, client_event()).status_code == 202
    assert same_org_key.post_json(EVENTS, client_event()).status_code == 429
    assert Event.objects.count() == 9


def test_rate_limit_off_means_no_limit(client: KeyClient, settings: Any) -> None:
    settings.INGEST_RATE_LIMIT = "off"
    for _ in range(10):
        assert client.post_json(EVENTS, client_event()).status_code == 202


def test_rate_limiter_fails_open_when_its_cache_is_down(client: KeyClient, settings: Any) -> None:
    settings.INGEST_RATE_LIMIT = "3/min"
    # Inside the test so the override is gone before the fixtures clear the real cache.
    with override_settings(CACHES=CLOSED_CACHE):
        for i in range(6):
            response = client.post_json(EVENTS, client_event(event_id=f"open-{i}"))
            assert response.status_code == 202, response.content
    assert Event.objects.count() == 6


def test_everything_redis_down_with_rate_limits_on(
    client: KeyClient,
    redis_down: None,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.INGEST_RATE_LIMIT = "3/min"
    with (
        override_settings(CACHES=CLOSED_CACHE),
        django_capture_on_commit_callbacks(execute=True),
    ):
        for i in range(5):
            response = client.post_json(
                BATCH, {"events": [client_event(event_id=f"e-{i}", session_id=f"s-{i}")]}
            )
            assert response.status_code == 202, response.content
    assert Event.objects.count() == 5
    assert PendingRollup.objects.count() == 5
