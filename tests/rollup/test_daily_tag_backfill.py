"""Migration llm_sessions 0010 backfills the daily tag cost table from the events already
stored: every event not pending adds to one row per tag it carries; pending ones fold in at
their rollup. Ends equal to the oracle, on both engines."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from infraprism.models import Organization
from ingestion.models import Event
from sessions.models import PendingRollup
from sessions.services import session_rollup_drain
from tests.rollup.recompute import (
    recompute_daily,
    recompute_daily_tags,
    snapshot_daily,
    snapshot_daily_tags,
)

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("llm_sessions", "0009_daily_cost_fillfactor")
T0 = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
PENDING = 7


def _migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _old_world(org: Organization) -> None:
    """Events as the previous code left them: stored and folded into costs_daily, the last few
    still pending (every event is queued since 0007)."""
    for i in range(40):
        tags = {}
        if i % 3:
            tags["feature"] = ("chat", "search", "")[i % 4 % 3]
        if i % 4 == 0:
            tags["env"] = "prod" if i % 8 else "Zürich"
        Event.objects.create(
            organization=org,
            event_id=f"old-{i}",
            timestamp=T0 + timedelta(minutes=17 * i),
            received_at=T0,
            model="gpt-4o",
            provider="openai",
            session_id=f"s{i % 5}" if i % 3 else None,
            input_tokens=i,
            output_tokens=2 * i,
            cached_input_tokens=i // 2,
            cost_nanos=10**9 * i + 7,
            cost_source="client",
            status="error" if i % 7 == 0 else "success",
            tags=tags,
        )
    pending = Event.objects.filter(organization=org).order_by("-id")[:PENDING]
    PendingRollup.objects.bulk_create(
        PendingRollup(
            organization_id=org.pk,
            session_id=e.session_id,
            event_pk=e.pk,
            event_id=e.event_id,
            timestamp=e.timestamp,
            model=e.model,
            provider=e.provider,
            is_error=e.status == "error",
            cost_nanos=e.cost_nanos,
            input_tokens=e.input_tokens,
            output_tokens=e.output_tokens,
            cached_input_tokens=e.cached_input_tokens,
            tags=e.tags or None,
        )
        for e in pending
    )
    # What the old rollup had folded: the daily cost table of the events not pending.
    with connection.cursor() as cursor:
        for (day, etype, eid, model, provider), sums in recompute_daily(
            org.pk, folded_only=True
        ).items():
            cursor.execute(
                "INSERT INTO costs_daily (organization_id, day, entity_type, entity_id, model, "
                "provider, cost_nanos, call_count, input_tokens, output_tokens, "
                "cached_input_tokens, error_count) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [org.pk, connection.ops.adapt_datefield_value(day), etype, eid, model, provider,
                 *sums.values()],
            )  # fmt: skip


def test_backfill_counts_every_stored_tag_once(make_org) -> None:
    org = make_org("tag-backfilled")
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        _migrate([BEFORE])
        _old_world(org)
        _migrate(latest)
        backfilled = snapshot_daily_tags(org.pk)
        assert backfilled == recompute_daily_tags(org.pk, folded_only=True)
        assert len(backfilled) > 5
        session_rollup_drain(organization_id=org.pk)
        assert snapshot_daily_tags(org.pk) == recompute_daily_tags(org.pk)
        assert snapshot_daily(org.pk) == recompute_daily(org.pk)
        # One row per tag an event carries, and its day's row of all events.
        tagged = sum(len(e.tags) + 1 for e in Event.objects.filter(organization=org))
        assert sum(r["call_count"] for r in snapshot_daily_tags(org.pk).values()) == tagged
    finally:
        _migrate(latest)
