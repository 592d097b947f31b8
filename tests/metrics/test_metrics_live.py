"""/metrics from a live gunicorn with 2 workers (and a Celery worker) in multiprocess mode.

Known traffic goes in, one scrape comes out, and every count must be exact: whichever worker
served a request, its counts are summed from the shared PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.urls import resolve

from infraprism.celery import app as celery_app
from tests.factories import event
from tests.metrics.scrape import Scrape
from tests.otel.live import server_env, tenant
from tests.otel.spans import T0_NS, chat, llm_call, protobuf_body, recording
from tests.reliability import procs
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-test-token"
MIN_ROUNDS = 3
MAX_ROUNDS = 200  # traffic rounds until both workers have served; far more than ever needed


@dataclass
class Stack:
    server: procs.Server
    env: dict[str, str]
    metrics_dir: Path
    logs: Path
    started: list[Any] = field(default_factory=list)

    def scrape(self) -> Scrape:
        response = requests.get(
            f"{self.server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        return Scrape(response.text)

    def pids_with_counters(self) -> set[str]:
        return {
            match.group(1)
            for file in self.metrics_dir.glob("counter_*.db")
            if (match := re.search(r"_(\d+)\.db$", file.name))
        }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("metrics-logs")
    metrics_dir = tmp_path_factory.mktemp("prometheus-multiproc")
    env = server_env(
        METRICS_ENABLED="true",
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    server = procs.start_gunicorn(env, logs, extra_args=("--workers", "2"))
    built = Stack(server=server, env=env, metrics_dir=metrics_dir, logs=logs)
    try:
        yield built
    finally:
        for proc in built.started:
            proc.stop()
        server.stop()


def _event(event_id: str, session: str) -> dict[str, Any]:
    return event(
        event_id, model="gpt-4o-mini", session_id=session, input_tokens=10, output_tokens=5
    )


def test_exact_counts_after_known_traffic_on_two_workers(stack: Stack) -> None:
    acme = tenant("metrics-acme")
    auth = {"Authorization": f"Bearer {acme.key}", "Connection": "close"}
    url = stack.server.url
    rounds = 0
    while rounds < MIN_ROUNDS or (len(stack.pids_with_counters()) < 2 and rounds < MAX_ROUNDS):
        i = rounds
        events = [_event(f"e{i}-0", f"m-{i}"), _event(f"e{i}-1", f"m-{i}"), event(None, model="")]
        if i:
            events.append(_event(f"e{i - 1}-0", f"m-{i - 1}"))  # a duplicate
        batch = requests.post(f"{url}/v1/events/batch", json={"events": events}, headers=auth)
        assert batch.status_code == 207, batch.text
        detail = requests.get(f"{url}/v1/analytics/sessions/m-{i}", headers=auth)
        assert detail.status_code == 200, detail.text
        anonymous = requests.post(f"{url}/v1/events", json=_event("x", "y"))
        assert anonymous.status_code == 401
        rounds += 1
    assert len(stack.pids_with_counters()) >= 2, "one worker served everything"

    with recording() as (tracer, spans):
        llm_call(tracer, chat(**{"session.id": "otel-m"}))
        llm_call(tracer, chat(**{"session.id": "otel-m"}), start_ns=T0_NS + 1)
        llm_call(tracer, {"http.request.method": "GET"}, name="GET /")
    otel = requests.post(
        f"{url}/v1/otel/v1/traces",
        data=protobuf_body(spans),
        headers={**auth, "Content-Type": "application/x-protobuf"},
    )
    assert otel.status_code == 200

    scrape = stack.scrape()
    ingest = "infraprism_ingest_events_total"
    assert scrape.value(ingest, outcome="accepted") == 2 * rounds + 2
    assert scrape.value(ingest, outcome="duplicate") == rounds - 1
    assert scrape.value(ingest, outcome="rejected") == rounds
    otel_spans = "infraprism_otel_spans_total"
    assert scrape.value(otel_spans, outcome="event") == 2
    assert scrape.value(otel_spans, outcome="ignored") == 1
    assert scrape.value(otel_spans, outcome="rejected") == 0

    requests_total = "infraprism_http_requests_total"
    batch_route = "/v1/events/batch"
    assert scrape.value(requests_total, route=batch_route, method="POST", status="207") == rounds
    assert scrape.value(requests_total, route="/v1/events", status="401") == rounds
    detail_route = "/" + str(resolve("/v1/analytics/sessions/m-0").route)
    assert scrape.value(requests_total, route=detail_route, status="200") == rounds
    assert scrape.value(requests_total, route="/v1/otel/v1/traces", status="200") == 1
    # Routes are URL patterns: no session id ever becomes a label value.
    assert not any("m-" in route for route in scrape.label_values(requests_total, "route"))
    latency = "infraprism_http_request_duration_seconds"
    assert scrape.value(f"{latency}_count", route=batch_route) == rounds
    assert scrape.value(f"{latency}_bucket", route=batch_route, le="+Inf") == rounds
    assert "organization" not in {
        label for _, labels, _ in scrape.samples for label in labels
    }  # off by default

    # Each batch's new events are one session, rolled up in-process after the commit.
    assert scrape.value("infraprism_rollup_events_total") == 2 * rounds + 2
    assert scrape.value("infraprism_rollup_sessions_total") == rounds + 1
    assert scrape.value("infraprism_rollup_queue_depth") == 0
    assert scrape.value("infraprism_rollup_oldest_pending_age_seconds") == 0

    # The scrape itself is counted once it has been answered.
    assert stack.scrape().value(requests_total, route="/metrics", status="200") == 1


def test_queue_depth_and_lag_come_from_the_database(stack: Stack) -> None:
    from django.db import connection

    globex = tenant("metrics-globex")
    # Without in-process rollups (a web process of the production shape, no worker running).
    server = procs.start_gunicorn(
        {**stack.env, "ROLLUP_IN_PROCESS": "false"}, stack.logs, extra_args=("--workers", "1")
    )
    stack.started.append(server)
    events = [_event(f"q{i}", f"q-{i % 3}") for i in range(7)]
    response = requests.post(
        f"{server.url}/v1/events/batch",
        json={"events": events},
        headers={"Authorization": f"Bearer {globex.key}"},
    )
    assert response.status_code == 202, response.text
    with connection.cursor() as cursor:  # received a minute ago, as if the worker were behind
        cursor.execute(
            "UPDATE ingestion_event SET received_at = received_at - interval '60 seconds' "
            "WHERE organization_id = %s",
            [globex.org.pk],
        )
    scrape = stack.scrape()
    assert scrape.value("infraprism_rollup_queue_depth") == 7
    assert 60 <= scrape.value("infraprism_rollup_oldest_pending_age_seconds") < 600


def test_celery_task_failures_are_counted_from_the_worker(stack: Stack) -> None:
    before = stack.scrape().value("infraprism_celery_task_failures_total", task="sessions.rollup")
    celery_app.control.purge()  # tasks left in this test Redis by an interrupted earlier run
    worker = procs.start_worker(stack.env, stack.logs, name="metrics")
    stack.started.append(worker)
    # No organization id: the task raises TypeError in the worker (not a transient error, so
    # not retried) and Celery signals the failure.
    celery_app.send_task("sessions.rollup", args=[])
    wait_until(
        lambda: stack.scrape().value(
            "infraprism_celery_task_failures_total", task="sessions.rollup"
        )
        == before + 1,
        timeout=30,
        what="the failure to be counted",
    )


def test_metrics_needs_the_token(stack: Stack) -> None:
    url = f"{stack.server.url}/metrics"
    assert requests.get(url, timeout=10).status_code == 401
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


def test_organization_label_when_turned_on(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    initech = tenant("metrics-initech")
    metrics_dir = tmp_path_factory.mktemp("prometheus-org-label")
    env = {
        **stack.env,
        "METRICS_ORGANIZATION_LABEL": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    server = procs.start_gunicorn(env, stack.logs, extra_args=("--workers", "1"))
    stack.started.append(server)
    auth = {"Authorization": f"Bearer {initech.key}"}
    events = [_event("o1", "o"), _event("o2", "o")]
    response = requests.post(f"{server.url}/v1/events/batch", json={"events": events}, headers=auth)
    assert response.status_code == 202
    text = requests.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).text
    scrape = Scrape(text)
    org = str(initech.org.pk)
    assert scrape.value("infraprism_ingest_events_total", outcome="accepted", organization=org) == 2
    assert (
        scrape.value("infraprism_http_requests_total", route="/v1/events/batch", organization=org)
        == 1
    )
    # Never on the latency histogram, whose buckets would multiply by the tenants.
    assert scrape.label_values(
        "infraprism_http_request_duration_seconds_count", "organization"
    ) == (set())
