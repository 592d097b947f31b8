"""Migration llm_sessions 0007 backfills the daily cost table from the events already stored:
every event not pending goes into it; pending rows (session events, as queued before) get their
provider and fold in at their rollup. Ends equal to the oracle, on both engines."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from infraprism.models import Organization
from ingestion.models import Event
from sessions.models import PendingRollup
from sessions.services import session_rollup_drain
from tests.rollup.recompute import recompute, recompute_daily, snapshot, snapshot_daily

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("llm_sessions", "0006_session_first_day_statistics")
T0 = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)


def _migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _old_world(org: Organization) -> None:
    """Events as the old code left them: all stored, only session events ever queued, and of
    those the last few still pending (queue rows without a provider column)."""
    for i in range(40):
        Event.objects.create(
            organization=org, event_id=f"old-{i}", timestamp=T0 + timedelta(minutes=17 * i),
            received_at=T0, model=("gpt-4o", "x-1")[i % 2], provider=("openai", "", "other")[i % 3],
            entity_type="customer" if i % 4 else None, entity_id=f"c{i % 3}" if i % 4 else None,
            session_id=f"s{i % 5}" if i % 3 else None, input_tokens=i, output_tokens=2 * i,
            cached_input_tokens=i // 2, cost_nanos=10**9 * i + 7, cost_source="client",
            status="error" if i % 7 == 0 else "success",
        )  # fmt: skip
    pending = Event.objects.filter(organization=org, session_id__isnull=False).order_by("-id")[:6]
    with connection.cursor() as cursor:
        for e in pending:
            cursor.execute(
                "INSERT INTO ingestion_pendingrollup (organization_id, session_id, event_pk, "
                "event_id, timestamp, model, is_error, entity_type, entity_id, cost_nanos, "
                "input_tokens, output_tokens, cached_input_tokens, tags) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL)",
                [org.pk, e.session_id, e.pk, e.event_id,
                 connection.ops.adapt_datetimefield_value(e.timestamp), e.model,
                 e.status == "error", e.entity_type, e.entity_id, e.cost_nanos, e.input_tokens,
                 e.output_tokens, e.cached_input_tokens],
            )  # fmt: skip


def test_backfill_counts_every_stored_event_once(make_org) -> None:
    org = make_org("backfilled")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        _migrate([BEFORE])
        _old_world(org)
        _migrate(latest)
        assert snapshot_daily(org.pk) == recompute_daily(org.pk, folded_only=True)
        queued = PendingRollup.objects.filter(organization_id=org.pk)
        providers = dict(Event.objects.filter(organization=org).values_list("pk", "provider"))
        assert queued.count() == 6
        assert all(row.provider == providers[row.event_pk] for row in queued)
        session_rollup_drain(organization_id=org.pk)
        assert snapshot_daily(org.pk) == recompute_daily(org.pk)
        assert sum(r["call_count"] for r in snapshot_daily(org.pk).values()) == 40
        assert set(snapshot(org.pk)) == set(recompute(org.pk))
    finally:
        _migrate(latest)
