"""The lifecycle through real processes on PostgreSQL: `manage.py retention` and `partitions`
in fresh interpreters, and the nightly task sent through Redis to a real Celery worker (the
worker harness of tests/rollup/test_celery_worker.py, on CELERY_TEST_REDIS_URL)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from infraprism.celery import app
from ingestion.models import Event
from sessions.services import session_rollup_drain
from tests.lifecycle.helpers import on_postgres, store, utc, valid_event
from tests.reliability.procs import manage, service_env
from tests.rollup.helpers import database_url_for_subprocess
from tests.rollup.test_celery_worker import REDIS_URL, broker, worker  # noqa: F401
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not on_postgres, reason="the worker needs PostgreSQL"),
]


def _org_with_old_and_new_events(make_org):
    org = make_org("lifecycle-procs")
    org.retention_days = 30
    org.save()
    store(
        org,
        [
            valid_event("old", utc(2021, 3, 1), session_id="old-s"),
            valid_event("new", timezone.now() - timedelta(days=1), session_id="new-s"),
        ],
    )
    session_rollup_drain(organization_id=org.pk)
    return org


def test_commands_in_fresh_processes(make_org) -> None:
    org = _org_with_old_and_new_events(make_org)
    env = service_env(database_url_for_subprocess(), REDIS_URL)
    dry = manage(env, "retention", "--dry-run")
    assert f"organization {org.pk}: would delete 1 events" in dry
    assert Event.objects.filter(organization=org).count() == 2
    done = manage(env, "retention")
    assert "total: deleted 1 events, 1 sessions" in done
    assert list(Event.objects.filter(organization=org).values_list("event_id", flat=True)) == [
        "new"
    ]
    assert "created:" in manage(env, "partitions")


def test_nightly_task_on_a_real_worker(make_org, broker, worker) -> None:  # noqa: F811
    org = _org_with_old_and_new_events(make_org)
    app.send_task("lifecycle.retention")
    wait_until(
        lambda: not Event.objects.filter(organization=org, event_id="old").exists(),
        timeout=60,
        what="the worker's retention run",
    )
    assert Event.objects.filter(organization=org, event_id="new").exists()
