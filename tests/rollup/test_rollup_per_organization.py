"""The global drain (the sweep) folds one organization at a time: every rollup statement names
exactly one organization (a distributed engine routes it to one shard); only the listing of
organizations with pending rows reads across them."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from infraprism.models import Organization
from sessions.services import session_rollup_drain
from tests.factories import event
from tests.rollup.helpers import T0, ingest, pending
from tests.rollup.recompute import recompute, recompute_daily, snapshot, snapshot_daily

pytestmark = pytest.mark.django_db

ROLLUP_TABLES = ("ingestion_pendingrollup", "llm_sessions_session", "costs_daily")


def test_global_drain_touches_one_organization_per_statement(
    org: Organization, other_org: Organization
) -> None:
    for organization in (org, other_org):
        ingest(organization.pk, [
            event(model="gpt-4o", timestamp=T0.isoformat(), session_id=f"s{i % 3}",
                  cost=1) for i in range(7)
        ] + [event(model="gpt-4o", timestamp=T0.isoformat(), cost=2)])  # fmt: skip
    with CaptureQueriesContext(connection) as captured:
        stats = session_rollup_drain(limit=3)
    assert stats.events == 16
    listing, scoped = 0, []
    for query in captured.captured_queries:
        sql = query["sql"]
        if not any(table in sql for table in ROLLUP_TABLES):
            continue
        if "DISTINCT" in sql and "ingestion_pendingrollup" in sql and "JOIN" not in sql:
            listing += 1
            continue
        named = {int(n) for n in re.findall(r'organization_id"?\s*=\s*(\d+)', sql)}
        if connection.vendor == "postgresql":
            assert len(named) == 1, sql
        scoped.append(named)
    assert listing == 1
    assert {org.pk, other_org.pk} <= set().union(*scoped)
    for organization in (org, other_org):
        assert pending(organization.pk) == 0
        assert snapshot(organization.pk) == recompute(organization.pk)
        assert snapshot_daily(organization.pk) == recompute_daily(organization.pk)


def test_deleting_an_organization_deletes_its_events_and_sessions_only(
    org: Organization, other_org: Organization
) -> None:
    """Event.organization and Session.organization have no foreign key in the database (ingest
    and rollup speed): Django's cascade is what removes an organization's events and sessions,
    and it must not touch another's."""
    from ingestion.models import Event
    from sessions.models import Session

    for organization in (org, other_org):
        ingest(organization.pk, [
            event(model="gpt-4o", timestamp=T0.isoformat(), session_id=f"s{i}", cost=1)
            for i in range(3)
        ])  # fmt: skip
    session_rollup_drain()
    kept = snapshot(other_org.pk)
    deleted_id = org.pk  # delete() sets org.pk to None
    assert Session.objects.filter(organization_id=deleted_id).count() == 3
    assert Event.objects.filter(organization_id=deleted_id).count() == 3
    org.delete()
    assert Session.objects.filter(organization_id=deleted_id).count() == 0
    assert Event.objects.filter(organization_id=deleted_id).count() == 0
    assert Event.objects.filter(organization_id=other_org.pk).count() == 3
    assert snapshot(other_org.pk) == kept == recompute(other_org.pk)
