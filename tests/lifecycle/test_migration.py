"""PostgreSQL: migration ingestion 0009 converts a populated, unpartitioned events table (as
at 0007) into the partitioned one, and back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ingestion.models import Event, EventKey
from lifecycle import partitions
from tests.lifecycle.helpers import on_postgres, partition_of, store, utc, valid_event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not on_postgres, reason="SQLite's events table is not partitioned"),
]

BEFORE = ("ingestion", "0007_event_price_id")

_OLD_ROWS = """
INSERT INTO ingestion_event (organization_id, event_id, "timestamp", received_at, model,
    provider, input_tokens, output_tokens, cached_input_tokens, cost_nanos, cost_source,
    status, tags)
SELECT %s, 'old-' || g, timestamptz '2024-01-10 00:00:00+00' + g * interval '9 days',
       now(), 'gpt-4o', 'openai', g, 1, 0, 1000 + g, 'client', 'success',
       jsonb_build_object('feature', 'f' || (g %% 3))
FROM generate_series(1, 60) AS g
"""


def _migrate(target: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def _relkind() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'ingestion_event'::regclass")
        return str(cursor.fetchone()[0])


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_populated_table_is_converted_and_back(make_org) -> None:
    org = make_org("migrated")
    latest = _latest()
    try:
        _migrate([BEFORE])
        assert _relkind() == "r"
        with connection.cursor() as cursor:
            cursor.execute(_OLD_ROWS, [org.pk])
            cursor.execute("SELECT max(id), sum(cost_nanos) FROM ingestion_event")
            max_id, total = cursor.fetchone()
        _migrate(latest)
        partitions.forget_known_months()
        assert _relkind() == "p"
        events = Event.objects.filter(organization=org)
        assert events.count() == 60
        assert sum(events.values_list("cost_nanos", flat=True)) == total
        assert EventKey.objects.filter(organization_id=org.pk).count() == 60
        first = events.get(event_id="old-1")
        assert partition_of(first.pk) == "ingestion_event_y2024m01"
        assert (
            partition_of(events.get(event_id="old-60").pk) == "ingestion_event_y2025m07"
        )  # + 540 days
        # Keys were filled: the old events are still duplicates; new ids continue the old ones.
        assert store(
            org, [valid_event("old-1", utc(2025, 12, 1)), valid_event("fresh", utc(2025, 12, 1))]
        ) == {"fresh"}
        assert events.get(event_id="fresh").pk > max_id
        # Back to 0007: one plain table again, with its unique constraint.
        _migrate([BEFORE])
        assert _relkind() == "r"
        assert Event.objects.filter(organization=org).count() == 61
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_constraint WHERE conname = 'event_org_event_id' AND contype = 'u'"
            )
            assert cursor.fetchone() is not None
    finally:
        _migrate(latest)
        partitions.forget_known_months()
    assert _relkind() == "p"
    assert Event.objects.filter(organization=org).count() == 61
