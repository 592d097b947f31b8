"""Retention on both engines: each organization's raw events older than its cutoff go (whole
partitions when every organization in them has expired, chunked deletes otherwise), sessions go
when their last call is older than the cutoff, pending events wait for the rollup."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from ingestion.models import Event, EventKey
from lifecycle import retention
from sessions.models import PendingRollup, Session
from tests.lifecycle.helpers import on_postgres, store, utc, valid_event

pytestmark = pytest.mark.django_db

NOW = utc(2026, 6, 15)  # A's cutoff (30 days): 2026-05-16


@pytest.fixture
def orgs(make_org, rollup, settings):
    """A keeps 30 days; B has no retention of its own and the global default keeps all."""
    settings.EVENT_RETENTION_DAYS = None
    a, b = make_org("keeps-30"), make_org("keeps-all")
    a.retention_days = 30
    a.save()
    store(
        a,
        [
            valid_event("a-feb", utc(2026, 2, 10), session_id="old-s"),
            valid_event("a-apr", utc(2026, 4, 20), session_id="mid-s", cost_nanos=7),
            valid_event("a-may", utc(2026, 5, 20), session_id="mid-s", cost_nanos=11),
            valid_event("a-jun", utc(2026, 6, 10)),
        ],
    )
    store(b, [valid_event("b-apr", utc(2026, 4, 5), session_id="b-s")])
    rollup()
    assert not PendingRollup.objects.exists()
    return a, b


def _event_ids(org):
    return set(Event.objects.filter(organization=org).values_list("event_id", flat=True))


def _partitions():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'ingestion_event'::regclass"
        )
        return {name for (name,) in cursor.fetchall()}


def test_removes_expired_events_and_sessions_per_organization(orgs) -> None:
    a, b = orgs
    report = retention.run(now=NOW, batch_size=1)
    assert _event_ids(a) == {"a-may", "a-jun"}
    assert _event_ids(b) == {"b-apr"}
    assert report.events_total == 2
    # old-s ended before the cutoff: gone. mid-s straddles it: kept whole (7 + 11 nanos).
    assert set(Session.objects.filter(organization=a).values_list("session_id", flat=True)) == {
        "mid-s"
    }
    mid = Session.objects.get(organization=a, session_id="mid-s")
    assert (mid.turn_count, int(mid.total_cost_nanos)) == (2, 18)
    assert Session.objects.filter(organization=b).count() == 1
    assert report.sessions == {a.pk: 1}
    if on_postgres:
        # February held only A's events: the partition went whole; April was shared with B.
        assert "ingestion_event_y2026m02" not in _partitions()
        assert "ingestion_event_y2026m04" in _partitions()
        assert report.dropped_partitions == ["ingestion_event_y2026m02"]
        assert set(
            EventKey.objects.filter(organization_id=a.pk).values_list("event_id", flat=True)
        ) == {
            "a-may",
            "a-jun",
        }
    # Running again finds nothing more.
    assert retention.run(now=NOW).events_total == 0


def test_dry_run_counts_and_deletes_nothing(orgs) -> None:
    a, _ = orgs
    out = StringIO()
    before = Event.objects.count()
    report = retention.run(now=NOW, dry_run=True)
    assert report.events_total == 2 and report.sessions == {a.pk: 1}
    assert Event.objects.count() == before
    assert Session.objects.count() == 3
    call_command("retention", "--dry-run", stdout=out)
    assert "would delete" in out.getvalue()  # against the real clock: everything is older


def test_global_default_applies_to_organizations_without_their_own(orgs, settings) -> None:
    a, b = orgs
    settings.EVENT_RETENTION_DAYS = 60  # B's cutoff: 2026-04-16
    retention.run(now=NOW)
    assert _event_ids(b) == set()
    assert Session.objects.filter(organization=b).count() == 0
    assert _event_ids(a) == {"a-may", "a-jun"}


def test_pending_events_are_kept_until_rolled_up(make_org, rollup) -> None:
    org = make_org("pending")
    org.retention_days = 30
    org.save()
    store(
        org,
        [
            valid_event("p-old", utc(2026, 3, 1), session_id="s"),
            valid_event("p-new", utc(2026, 6, 1), session_id="s"),
        ],
    )
    assert retention.run(now=NOW).events_total == 0
    assert _event_ids(org) == {"p-old", "p-new"}
    rollup()
    assert retention.run(now=NOW).events_total == 1
    assert _event_ids(org) == {"p-new"}
    assert Session.objects.get(organization=org, session_id="s").turn_count == 2


def test_a_deleted_event_sent_again_is_stored_again(orgs) -> None:
    """Keys go with their events (documented): a re-sent expired event is new, and the next
    run removes it again."""
    a, _ = orgs
    retention.run(now=NOW)
    assert store(a, [valid_event("a-feb", utc(2026, 2, 10))]) == {"a-feb"}


def test_command_reports_counts(orgs) -> None:
    out = StringIO()
    call_command("retention", stdout=out)
    text = out.getvalue()
    assert "total: deleted" in text


def test_the_nightly_task_is_scheduled_and_runs(orgs, settings) -> None:
    from infraprism.celery import app
    from lifecycle.tasks import apply_retention

    app.finalize()  # the beat schedule is set when the app finalizes (infraprism/celery.py)
    schedule = app.conf.beat_schedule
    assert schedule["lifecycle-retention"]["task"] == apply_retention.name
    assert schedule["lifecycle-partitions"]["task"] == "lifecycle.partitions"
    a, _ = orgs
    a.retention_days = 1  # against the real clock every event of A is older than a day
    a.save()
    result = apply_retention.apply()
    assert result.successful(), result.traceback
    assert _event_ids(a) == set()
