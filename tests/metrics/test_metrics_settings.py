"""/metrics in one process (Django's test client): off by default, and the Celery signals."""

from typing import Any

import pytest
from celery.signals import task_retry
from django.test import Client

from sessions.tasks import rollup
from tests.metrics.scrape import Scrape

pytestmark = pytest.mark.django_db


def _scrape() -> Scrape:
    response = Client().get("/metrics")
    assert response.status_code == 200, response.content
    return Scrape(response.content.decode())


def test_metrics_is_a_404_unless_enabled(settings: Any) -> None:
    settings.METRICS_ENABLED = False
    response = Client().get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_task_retries_are_counted_by_task_name(settings: Any) -> None:
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    name = "infraprism_celery_task_retries_total"
    before = _scrape().value(name, task="sessions.rollup")
    task_retry.send(sender=rollup, request=None, reason=RuntimeError("transient"), einfo=None)
    task_retry.send(sender=rollup, request=None, reason=RuntimeError("transient"), einfo=None)
    assert _scrape().value(name, task="sessions.rollup") == before + 2


def test_counting_is_skipped_while_metrics_are_off(settings: Any) -> None:
    settings.METRICS_ENABLED = True
    name = "infraprism_celery_task_retries_total"
    before = _scrape().value(name, task="sessions.rollup")
    settings.METRICS_ENABLED = False
    task_retry.send(sender=rollup, request=None, reason=RuntimeError("transient"), einfo=None)
    settings.METRICS_ENABLED = True
    assert _scrape().value(name, task="sessions.rollup") == before


def test_metric_help_names_every_family(settings: Any) -> None:
    settings.METRICS_ENABLED = True
    families = _scrape().names()
    assert {"infraprism_rollup_queue_depth", "infraprism_rollup_oldest_pending_age_seconds"} <= (
        families
    )


def test_only_get_is_served(settings: Any) -> None:
    settings.METRICS_ENABLED = True
    response = Client().post("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"] == "method_not_allowed"


def test_routes_of_middleware_answers_and_unknown_paths(settings: Any) -> None:
    settings.METRICS_ENABLED = True
    settings.MAX_BODY_BYTES = 100
    name = "infraprism_http_requests_total"
    before = _scrape()
    client = Client()  # built after METRICS_ENABLED: its handler loads the metrics middleware
    too_big = client.post("/v1/events/batch", b"x" * 200, content_type="application/json")
    assert too_big.status_code == 413  # answered by the body-size middleware, before routing
    assert client.get("/no/such/page/12345").status_code == 404
    after = _scrape()
    route = "/v1/events/batch"
    assert after.value(name, route=route, status="413") == (
        before.value(name, route=route, status="413") + 1
    )
    assert after.value(name, route="unmatched", status="404") == (
        before.value(name, route="unmatched", status="404") + 1
    )
    assert not any("12345" in r for r in after.label_values(name, "route"))


def test_an_all_rejected_request_counts_its_rejections(settings: Any, client: Any) -> None:
    settings.METRICS_ENABLED = True
    name = "infraprism_ingest_events_total"
    before = _scrape()
    response = client.post_json("/v1/events/batch", {"events": [{"model": ""}, {"x": 1}]})
    assert response.status_code == 400
    after = _scrape()
    assert after.value(name, outcome="rejected") == before.value(name, outcome="rejected") + 2
    assert after.value(name, outcome="accepted") == before.value(name, outcome="accepted")
