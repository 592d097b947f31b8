"""PostgreSQL: the events table's monthly partitions, made ahead by the beat task's service and
on demand; rows the DEFAULT partition caught are moved into partitions of their own."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from ingestion.models import Event
from lifecycle import partitions
from lifecycle.months import DEFAULT_PARTITION
from tests.lifecycle.helpers import on_postgres, partition_of, store, utc, valid_event

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not on_postgres, reason="SQLite's events table is not partitioned"),
]


def _constraint_columns(contype: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT array_agg(a.attname::text ORDER BY k.ord)
            FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord),
                 pg_attribute a
            WHERE c.conrelid = 'ingestion_event'::regclass AND c.contype = %s
              AND a.attrelid = c.conrelid AND a.attnum = k.attnum
            GROUP BY c.oid
            """,
            [contype],
        )
        return [row[0] for row in cursor.fetchall()]


def test_events_table_is_partitioned_with_a_distribution_ready_key() -> None:
    assert partitions.is_partitioned()
    assert _constraint_columns("p") == [["organization_id", "timestamp", "id"]]
    assert _constraint_columns("u") == []  # idempotency lives in ingestion_eventkey
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'ingestion_event' ORDER BY 1"
        )
        definitions = " ".join(row[0] for row in cursor.fetchall())
    assert "USING gin (organization_id, tags jsonb_path_ops)" in definitions
    assert DEFAULT_PARTITION in partitions.existing_partitions(connection.cursor())


def test_create_ahead_makes_this_month_and_the_next_three() -> None:
    created = partitions.create_ahead(now=utc(2031, 11, 20))
    assert created == [
        "ingestion_event_y2031m11",
        "ingestion_event_y2031m12",
        "ingestion_event_y2032m01",
        "ingestion_event_y2032m02",
    ]
    assert partitions.create_ahead(now=utc(2031, 11, 20)) == []  # idempotent


def test_rows_caught_by_default_are_split_into_their_month(org) -> None:
    # Any writer other than the events insert (the ORM, a bulk load) lands in DEFAULT when
    # its month has no partition: accepted, never rejected.
    orm = Event.objects.create(
        organization=org,
        event_id="orm-1",
        timestamp=utc(2011, 3, 3),
        received_at=utc(2026, 1, 1),
        model="gpt-4o",
        cost_source="client",
    )
    assert partition_of(orm.pk) == DEFAULT_PARTITION
    out = StringIO()
    call_command("partitions", stdout=out)
    assert "moved 1 rows from the DEFAULT partition into ingestion_event_y2011m03" in out.getvalue()
    assert partition_of(orm.pk) == "ingestion_event_y2011m03"
    assert Event.objects.get(pk=orm.pk).event_id == "orm-1"


def test_on_demand_creation_leaves_default_rows_alone(org) -> None:
    """A month whose rows are in DEFAULT is not attached by the hot path (ATTACH would fail);
    its new events join them there until the split task runs."""
    Event.objects.create(
        organization=org,
        event_id="orm-2",
        timestamp=utc(2012, 5, 5),
        received_at=utc(2026, 1, 1),
        model="gpt-4o",
        cost_source="client",
    )
    partitions.forget_known_months()
    assert store(org, [valid_event("api-2", utc(2012, 5, 6))]) == {"api-2"}
    api = Event.objects.get(organization=org, event_id="api-2")
    assert partition_of(api.pk) == DEFAULT_PARTITION
    partitions.split_default()
    assert partition_of(api.pk) == "ingestion_event_y2012m05"


def test_the_daily_task_keeps_partitions_ahead() -> None:
    from lifecycle.tasks import maintain_partitions

    with connection.cursor() as cursor:
        before = set(partitions.existing_partitions(cursor))
    result = maintain_partitions.apply()
    assert result.successful(), result.traceback
    with connection.cursor() as cursor:
        after = set(partitions.existing_partitions(cursor))
    assert after >= before
    assert len([name for name in after if name.startswith("ingestion_event_y")]) >= 4


def test_a_failed_attach_leaves_the_events_in_default(org, monkeypatch) -> None:
    """The race the savepoint covers: a row of the month reaches DEFAULT after the check (here
    the check is made to miss it), the ATTACH fails, and the ingest still succeeds."""
    Event.objects.create(
        organization=org,
        event_id="orm-3",
        timestamp=utc(2013, 8, 8),
        received_at=utc(2026, 1, 1),
        model="gpt-4o",
        cost_source="client",
    )
    monkeypatch.setattr(partitions, "_default_holds", lambda cursor, month: False)
    partitions.forget_known_months()
    assert store(org, [valid_event("api-3", utc(2013, 8, 9))]) == {"api-3"}
    assert partition_of(Event.objects.get(event_id="api-3").pk) == DEFAULT_PARTITION
    assert "ingestion_event_y2013m08" not in partitions.existing_partitions(connection.cursor())
