"""PostgreSQL: the events table becomes partitioned by month on `timestamp` (SQLite: nothing).

Converts a populated table in one transaction: the old table is renamed, a partitioned one is
created with a DEFAULT partition and one partition per month that has data (plus last month,
this month and the next MONTHS_AHEAD), the rows are copied, the idempotency keys are filled
from them, and the indexes and extended statistics are rebuilt on the new table. The old
table is dropped at the end. Everything holds an ACCESS EXCLUSIVE lock until commit: fine for
a small table or a maintenance window; docs/scaling.md gives the online procedure for a very
large one.

Database primary key: (organization_id, timestamp, id), named event_org_ts (it is the model's
event_org_ts index, widened by id); the unique (organization_id, event_id)
constraint moves to ingestion_eventkey (a partitioned table's unique constraints must include
the partition key). Django's model state is unchanged (`id` stays the model's pk, the
UniqueConstraint stays for SQLite), so this is RunPython, not schema operations. `id` keeps a
sequence default instead of an identity column (PostgreSQL 15 has no identity columns on
partitioned tables).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import migrations

from lifecycle.months import (
    bound_literal,
    month_of,
    months_from,
    next_month,
    partition_name,
    start_of,
)
from lifecycle.partitions import MONTHS_AHEAD

TABLE = "ingestion_event"
OLD = "ingestion_event_unpartitioned"
INDEXES = {
    "event_org_ts": 'btree (organization_id, "timestamp")',
    "event_org_session": 'btree (organization_id, session_id, "timestamp")',
    "event_org_entity": 'btree (organization_id, entity_type, entity_id, "timestamp")',
    "event_org_tags_gin": "gin (organization_id, tags jsonb_path_ops)",
}
STATISTICS = (
    "CREATE STATISTICS IF NOT EXISTS event_day_utc "
    "ON ((\"timestamp\" AT TIME ZONE 'UTC')::date) FROM ingestion_event"
)


def _foreign_keys(cursor: Any, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype = 'f'",
        [table],
    )
    return list(cursor.fetchall())


def _build_indexes(cursor: Any, skip: str = "") -> None:
    for name, definition in INDEXES.items():
        if name != skip:
            cursor.execute(f"CREATE INDEX {name} ON {TABLE} USING {definition}")
    cursor.execute(STATISTICS)


def _set_aside(cursor: Any, new_name: str, constraints: list[str]) -> None:
    """Rename the current table and its named indexes/constraints out of the way."""
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {new_name}")
    for name in INDEXES:
        cursor.execute(f"ALTER INDEX IF EXISTS {name} RENAME TO {name}_{new_name[16:]}")
    for name in constraints:
        cursor.execute(f"ALTER TABLE {new_name} RENAME CONSTRAINT {name} TO {name}_{new_name[16:]}")
    cursor.execute("DROP STATISTICS IF EXISTS event_day_utc")


def partition(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        foreign_keys = _foreign_keys(cursor, TABLE)
        _set_aside(cursor, OLD, ["ingestion_event_pkey", "event_org_event_id"])
        cursor.execute(
            f'CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS) PARTITION BY RANGE ("timestamp")'
        )
        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq_new OWNED BY {TABLE}.id")
        cursor.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq_new')"
        )
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC')::date FROM {OLD}"
        )
        months = {month for (month,) in cursor.fetchall()}
        this_month = month_of(datetime.now(UTC))
        last_month = month_of(start_of(this_month) - timedelta(days=1))
        months.update(months_from(last_month, MONTHS_AHEAD + 2))
        for month in sorted(months):
            cursor.execute(
                f"CREATE TABLE {partition_name(month)} PARTITION OF {TABLE} FOR VALUES "
                f"FROM ({bound_literal(month)}) TO ({bound_literal(next_month(month))})"
            )
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(
            f"SELECT setval('{TABLE}_id_seq_new', coalesce(max(id), 0) + 1, false) FROM {OLD}"
        )
        cursor.execute(
            "INSERT INTO ingestion_eventkey (organization_id, event_id) "
            f"SELECT organization_id, event_id FROM {OLD} ON CONFLICT DO NOTHING"
        )
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq_new RENAME TO {TABLE}_id_seq")
        # The primary key's index is event_org_ts: (organization_id, timestamp, id) serves every
        # query the model's event_org_ts index (organization, timestamp) does, and one index
        # fewer is one insertion fewer per event on the ingest path.
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT event_org_ts "
            'PRIMARY KEY (organization_id, "timestamp", id)'
        )
        _build_indexes(cursor, skip="event_org_ts")
        # Plain index on id for lookups by the model's pk (admin, the rollup queue's event_pk).
        cursor.execute(f"CREATE INDEX event_pk_lookup ON {TABLE} (id)")
        # The DEFAULT partition's own index: the partition maintenance asks it "any rows of
        # month M?" before attaching M.
        cursor.execute(f'CREATE INDEX {TABLE}_default_ts ON {TABLE}_default ("timestamp")')
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
        cursor.execute(f"ANALYZE {TABLE}")


def unpartition(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    partitioned = "ingestion_event_partitioned"
    with schema_editor.connection.cursor() as cursor:
        foreign_keys = _foreign_keys(cursor, TABLE)
        _set_aside(cursor, partitioned, [])  # renaming event_org_ts renames the primary key
        cursor.execute("DROP INDEX IF EXISTS event_pk_lookup")
        cursor.execute(f"ALTER SEQUENCE {TABLE}_id_seq RENAME TO {TABLE}_id_seq_partitioned")
        cursor.execute(f"CREATE TABLE {TABLE} (LIKE {partitioned})")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {partitioned}")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), coalesce(max(id), 0) + 1, "
            f"false) FROM {TABLE}"
        )
        cursor.execute(f"DROP TABLE {partitioned}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT event_org_event_id UNIQUE (organization_id, event_id)"
        )
        _build_indexes(cursor)
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
        cursor.execute("TRUNCATE ingestion_eventkey")


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0008_event_keys")]

    operations = [migrations.RunPython(partition, unpartition)]
