"""Monthly partitions of the events table (PostgreSQL): which exist, creating them ahead or on
demand, and moving rows that landed in the DEFAULT partition into their month's partition.

A month's partition is created as a plain table and then ATTACHed: ATTACH PARTITION takes only
SHARE UPDATE EXCLUSIVE on the parent (CREATE TABLE ... PARTITION OF would take ACCESS
EXCLUSIVE and queue every reader and writer behind it). Creation is serialised by one
transaction-scoped advisory lock, which retention's detach takes too.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from ingestion.models import Event
from lifecycle.months import (
    DEFAULT_PARTITION,
    PARENT,
    bound_literal,
    month_of,
    month_of_partition,
    months_from,
    next_month,
    partition_name,
    start_of,
)

logger = logging.getLogger(__name__)

# Months kept ahead of today by the beat task (the current month included).
MONTHS_AHEAD = 3
# pg_advisory_xact_lock key of partition DDL on the events table (an arbitrary constant).
PARTITION_LOCK = 0x1F_E7E4_7001
# Months this process knows have a partition (or whose rows go to the DEFAULT partition until
# the split task moves them): the hot path checks here before it asks the database.
_known_months: set[date] = set()
# Months this process created in a transaction not yet committed: such a month exists for that
# transaction but is gone if it rolls back, so it becomes known only on commit.
_created_uncommitted: set[date] = set()

_COLUMNS = ", ".join(f'"{field.column}"' for field in Event._meta.concrete_fields)


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [PARENT])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def existing_partitions(cursor: CursorWrapper) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
        [PARENT],
    )
    return [name for (name,) in cursor.fetchall()]


def existing_months(cursor: CursorWrapper) -> set[date]:
    return {
        month for month in map(month_of_partition, existing_partitions(cursor)) if month is not None
    }


def _default_holds(cursor: CursorWrapper, month: date) -> bool:
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} "
        f'WHERE "timestamp" >= {bound_literal(month)} '
        f'AND "timestamp" < {bound_literal(next_month(month))})'
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def _attach_sql(month: date) -> list[str]:
    name = partition_name(month)
    return [
        f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
        f"FOR VALUES FROM ({bound_literal(month)}) TO ({bound_literal(next_month(month))})",
    ]


def create_month(cursor: CursorWrapper, month: date) -> bool:
    """Create and attach `month`'s partition unless it exists or the DEFAULT partition holds
    rows of that month (split_default() moves them). The caller holds PARTITION_LOCK."""
    if month in existing_months(cursor) or _default_holds(cursor, month):
        return False
    try:
        # A savepoint: if a writer that takes no lock of ours (the ORM, a bulk load) puts a row
        # of this month into DEFAULT meanwhile, the ATTACH fails; the caller's transaction goes
        # on and its rows join that one in DEFAULT until split_default() runs.
        with transaction.atomic():
            for statement in _attach_sql(month):
                cursor.execute(statement)
    except DatabaseError as exc:
        logger.warning("partitions: %s not created now (%s)", partition_name(month), exc)
        return False
    logger.info("partitions: created %s", partition_name(month))
    return True


def months_known(months: Iterable[date]) -> bool:
    """Whether ensure_months(months) would run no statement (each month known to this process)."""
    return all(month in _known_months for month in months)


def ensure_months(months: Iterable[date]) -> None:
    """Make sure each month has a partition before events of it are inserted (the ingest hot
    path: costs nothing once a month is known to this process). Runs in the caller's
    transaction: a month that already had a partition is known at once, one created here when
    the transaction commits (a rollback takes the partition with it)."""
    missing = [month for month in months if month not in _known_months]
    if not missing:
        return
    created = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
        for month in missing:
            if create_month(cursor, month):
                created.append(month)
            elif month not in _created_uncommitted:
                _known_months.add(month)
    if created:
        _created_uncommitted.update(created)
        transaction.on_commit(lambda: _committed(created))


def _committed(months: list[date]) -> None:
    _known_months.update(months)
    _created_uncommitted.difference_update(months)


def forget_known_months() -> None:
    """Tests and retention: the next insert checks the database again."""
    _known_months.clear()
    _created_uncommitted.clear()


def create_ahead(now: datetime | None = None, months: int = MONTHS_AHEAD) -> list[str]:
    """The beat task's part one: partitions for this month and the next ones."""
    first = month_of(now or timezone.now())
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
        for month in months_from(first, months + 1):
            if create_month(cursor, month):
                created.append(partition_name(month))
    return created


def split_default() -> dict[str, int]:
    """The beat task's part two: move rows the DEFAULT partition caught (written by anything
    but the events insert, or by a process whose month cache was stale) into partitions of
    their own, one month per transaction. Returns the rows moved per partition."""
    moved: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT date_trunc('month', \"timestamp\" AT TIME ZONE 'UTC')::date "
            f"FROM {DEFAULT_PARTITION} ORDER BY 1"
        )
        months = [month for (month,) in cursor.fetchall()]
    for month in months:
        name = partition_name(month)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK])
            if month in existing_months(cursor):
                continue  # cannot happen: rows of an existing month never route to DEFAULT
            create_sql, attach_sql = _attach_sql(month)
            cursor.execute(create_sql)
            cursor.execute(
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
                f'WHERE "timestamp" >= {bound_literal(month)} '
                f'AND "timestamp" < {bound_literal(next_month(month))} RETURNING {_COLUMNS}) '
                f"INSERT INTO {name} ({_COLUMNS}) SELECT {_COLUMNS} FROM moved"
            )
            moved[name] = cursor.rowcount
            cursor.execute(attach_sql)
        logger.info(
            "partitions: moved %d rows from %s into %s", moved[name], DEFAULT_PARTITION, name
        )
    return moved


@dataclass
class Maintenance:
    partitioned: bool
    created: list[str] = field(default_factory=list)
    moved: dict[str, int] = field(default_factory=dict)


def maintain(now: datetime | None = None) -> Maintenance:
    """Both parts, as the beat task and `manage.py partitions` run them."""
    if not is_partitioned():
        return Maintenance(partitioned=False)
    return Maintenance(partitioned=True, created=create_ahead(now), moved=split_default())


def month_partition_bounds(name: str) -> tuple[datetime, datetime] | None:
    month = month_of_partition(name)
    if month is None:
        return None
    return start_of(month), start_of(next_month(month))
