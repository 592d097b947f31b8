"""One real Celery worker: ingest commits, the rollup task goes through Redis, the worker folds it.

The worker is a child process on the test database and a Redis database of this test's own
(CELERY_TEST_REDIS_URL, default redis://127.0.0.1:6379/12), flushed first.
"""

import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.db import connection

from infraprism import redis_client
from infraprism.celery import app
from infraprism.models import Organization
from ingestion.models import Event
from tests.factories import event
from tests.reliability.procs import PYTHON, Child, service_env
from tests.rollup.helpers import at, database_url_for_subprocess, ingest, pending
from tests.rollup.recompute import recompute, snapshot
from tests.waiting import wait_until

REDIS_URL = os.environ.get("CELERY_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker needs PostgreSQL"),
]


@pytest.fixture
def broker(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """Point this process's scheduling and Celery producer at the test's own Redis database."""
    # Read before touching settings: the first access configures the app from them.
    previous = app.conf.broker_url
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    client.flushdb()
    settings.REDIS_URL = REDIS_URL
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.ROLLUP_IN_PROCESS = False
    monkeypatch.setattr(redis_client, "_client", None)
    monkeypatch.setattr(redis_client, "_down_until", 0.0)

    # The app read its broker URL from settings when first configured: repoint it and drop
    # the cached connection and producer pools so the next send connects to REDIS_URL.
    def repoint(url: str) -> None:
        app.conf.broker_url = url
        app._pool = None  # type: ignore[attr-defined]
        if "amqp" in app.__dict__:
            app.amqp._producer_pool = None  # type: ignore[attr-defined]

    repoint(REDIS_URL)
    try:
        yield client
    finally:
        repoint(previous)
        client.flushdb()
        client.close()


@pytest.fixture
def worker(broker: redis.Redis) -> Iterator[Child]:
    child = Child(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "infraprism",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "-Q",
            "celery",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"rollup-test-{os.getpid()}@%h",
        ],
        service_env(database_url_for_subprocess(), REDIS_URL, ROLLUP_IN_PROCESS="false"),
    )
    try:
        yield child
    finally:
        child.stop()


def session_events(prefix: str, sessions: int, per_session: int) -> list[dict[str, Any]]:
    return [
        event(
            f"{prefix}-{s}-{i}",
            session_id=f"{prefix}-{s}",
            timestamp=at(-i, micros=s),
            model=["gpt-4o", "claude-3-5-sonnet"][i % 2],
            cost=Decimal("0.0000015"),
            input_tokens=10 * i,
            tags={"turn": str(i)},
            **({"entity_type": "customer", "entity_id": f"c{i}"} if i % 3 else {}),
        )
        for s in range(sessions)
        for i in range(per_session)
    ]


def wait_for_rollup(org: Organization, what: str, timeout: float = 30) -> None:
    """Poll until nothing is pending and the aggregates equal a recomputation."""
    wait_until(
        lambda: pending(org.pk) == 0 and snapshot(org.pk) == recompute(org.pk),
        timeout=timeout,
        interval=0.2,
        what=f"{what}: nothing pending and the aggregates recomputed",
    )


def test_ingest_schedules_a_rollup_that_a_real_worker_runs(
    org: Organization, broker: redis.Redis, worker: Child
) -> None:
    # Before the worker is up: the task waits in Redis.
    ingest(org.pk, session_events("early", sessions=5, per_session=40))
    # Committed, so on_commit ran: the debounce marker is set and one task is queued.
    assert broker.exists(f"rollup:scheduled:{org.pk}")
    assert broker.llen("celery") == 1
    worker.wait_for(r"ready\.", timeout=60)
    wait_for_rollup(org, "after the first rollup")
    worker.wait_for(r"Task sessions\.rollup\[[^\]]+\] succeeded", timeout=10)

    # With the worker running: the first task cleared the marker, so this schedules another.
    ingest(org.pk, session_events("late", sessions=3, per_session=25))
    wait_for_rollup(org, "after the second rollup")
    worker.wait_for(r"Task sessions\.rollup\[[^\]]+\] succeeded", timeout=10)
    stored = snapshot(org.pk)
    assert sum(row["turn_count"] for row in stored.values()) == 275
    assert stored["early-0"]["total_cost_nanos"] == 40 * 1500
    assert stored["late-2"]["models"] == ["claude-3-5-sonnet", "gpt-4o"]


def test_the_sweep_task_drains_events_ingested_without_scheduling(
    make_org: Callable[..., Organization], broker: redis.Redis, worker: Child, settings: Any
) -> None:
    orgs = [make_org(), make_org()]
    settings.REDIS_URL = ""  # "Redis down" for the ingest: nothing is scheduled
    for number, org in enumerate(orgs):
        ingest(org.pk, session_events(f"o{number}", sessions=4, per_session=30))
    settings.REDIS_URL = REDIS_URL
    assert broker.llen("celery") == 0
    assert not broker.keys("rollup:scheduled:*")
    worker.wait_for(r"ready\.", timeout=60)
    assert all(pending(org.pk) == 120 for org in orgs)  # a worker alone does nothing

    app.send_task("sessions.sweep")
    for org in orgs:
        wait_for_rollup(org, "after the sweep")
        assert sum(row["turn_count"] for row in snapshot(org.pk).values()) == 120
    worker.wait_for(r"Task sessions\.sweep\[[^\]]+\] succeeded", timeout=10)
    assert Event.objects.filter(session_id__isnull=False).count() == 240
