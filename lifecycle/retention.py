"""Retention of raw events: each organization's events older than its cutoff are removed, and
its sessions whose last call is older than the cutoff.

Cutoff: now - (Organization.retention_days, else settings.EVENT_RETENTION_DAYS); neither set
keeps everything. An organization's events that are still waiting in the rollup queue are kept
(the cutoff moves back to its oldest pending event) until the rollup has folded them, so a
session is never deleted and then re-created from its late-folded remainder.

PostgreSQL: a month partition whose every organization has expired is DETACHed (a short
ACCESS EXCLUSIVE lock on the parent, bounded by lock_timeout and retried on the next run),
its idempotency keys are deleted from the detached table in chunks, and it is dropped. The
rest goes in chunked deletes: bounded batches in (timestamp, id) order, each its own short
transaction, deleting the events' keys in the same statement. SQLite: chunked deletes only.
Daily cost rows (aggregates) are never touched. Every step logs its counts.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from infraprism.models import Organization
from ingestion.models import Event, EventKey
from lifecycle import partitions
from lifecycle.months import PARENT, month_of_partition, next_month, start_of
from sessions.models import PendingRollup, Session

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
# Detaching a partition must not queue the ingest path behind a long query: give up after this
# and try again on the next run.
DETACH_LOCK_TIMEOUT = "2s"
_KEYS = EventKey._meta.db_table
_SESSIONS = Session._meta.db_table


@dataclass
class RetentionReport:
    dry_run: bool
    cutoffs: dict[int, datetime] = field(default_factory=dict)
    # (organization_id, table) -> events deleted (or, in a dry run, that would be)
    events: dict[tuple[int, str], int] = field(default_factory=dict)
    sessions: dict[int, int] = field(default_factory=dict)
    dropped_partitions: list[str] = field(default_factory=list)
    skipped_partitions: list[str] = field(default_factory=list)

    @property
    def events_total(self) -> int:
        return sum(self.events.values())


def cutoffs(now: datetime) -> dict[int, datetime]:
    """Each organization that has a retention, with the moment before which its events go."""
    default_days = settings.EVENT_RETENTION_DAYS
    result: dict[int, datetime] = {}
    for org_id, days in Organization.objects.order_by("id").values_list("id", "retention_days"):
        days = days if days is not None else default_days
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        # One organization per statement (a distributed engine routes it to one shard).
        oldest_pending = PendingRollup.objects.filter(organization_id=org_id).aggregate(
            oldest=Min("timestamp")
        )["oldest"]
        if oldest_pending is not None and oldest_pending < cutoff:
            logger.info(
                "retention: org %s: cutoff held back from %s to %s (events still pending)",
                org_id,
                cutoff.isoformat(),
                oldest_pending.isoformat(),
            )
            cutoff = oldest_pending
        result[org_id] = cutoff
    return result


def run(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    pause: float = 0.0,
) -> RetentionReport:
    report = RetentionReport(dry_run=dry_run)
    report.cutoffs = cutoffs(now or timezone.now())
    if partitions.is_partitioned():
        tables = _drop_expired_partitions(report, batch_size)
    else:
        tables = [PARENT]
    for org_id, cutoff in report.cutoffs.items():
        for table in tables:
            count = _delete_events(table, org_id, cutoff, dry_run, batch_size, pause)
            if count:
                report.events[(org_id, table)] = count
                logger.info(
                    "retention: org %s: %s %d events from %s",
                    org_id,
                    "would delete" if dry_run else "deleted",
                    count,
                    table,
                )
        sessions = _delete_sessions(org_id, cutoff, dry_run, batch_size, pause)
        if sessions:
            report.sessions[org_id] = sessions
            logger.info(
                "retention: org %s: %s %d sessions",
                org_id,
                "would delete" if dry_run else "deleted",
                sessions,
            )
    logger.info(
        "retention: done%s: %d events, %d sessions, partitions dropped: %s",
        " (dry run)" if dry_run else "",
        report.events_total,
        sum(report.sessions.values()),
        ", ".join(report.dropped_partitions) or "none",
    )
    return report


# --- Whole partitions (PostgreSQL) ---------------------------------------------------------


def _organizations_in(table: str) -> list[int]:
    """Distinct organization_id of a partition: a skip scan over its primary key."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE orgs AS (
                (SELECT organization_id FROM {table} ORDER BY organization_id LIMIT 1)
                UNION ALL
                SELECT (SELECT organization_id FROM {table}
                        WHERE organization_id > o.organization_id
                        ORDER BY organization_id LIMIT 1)
                FROM orgs o WHERE o.organization_id IS NOT NULL
            )
            SELECT organization_id FROM orgs WHERE organization_id IS NOT NULL
            """
        )
        return [org_id for (org_id,) in cursor.fetchall()]


def _count_by_organization(table: str) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT organization_id, count(*) FROM {table} GROUP BY 1")
        return dict(cursor.fetchall())


def _drop_expired_partitions(report: RetentionReport, batch_size: int) -> list[str]:
    """Drop (or, dry run, count) the month partitions whose every organization has expired;
    returns the partitions left for chunked deletes (DEFAULT included)."""
    with connection.cursor() as cursor:
        names = partitions.existing_partitions(cursor)
    remaining = []
    for name in names:
        month = month_of_partition(name)
        if month is None:
            remaining.append(name)  # the DEFAULT partition
            continue
        end = start_of(next_month(month))
        orgs = _organizations_in(name)
        expired = bool(orgs) and all(
            org_id in report.cutoffs and end <= report.cutoffs[org_id] for org_id in orgs
        )
        if not expired:
            if any(
                org_id in report.cutoffs and start_of(month) < report.cutoffs[org_id]
                for org_id in orgs
            ):
                remaining.append(name)
            continue
        counts = _count_by_organization(name)
        if report.dry_run:
            for org_id, count in counts.items():
                report.events[(org_id, name)] = count
            report.dropped_partitions.append(name)
            continue
        if not _detach(name):
            report.skipped_partitions.append(name)
            remaining.append(name)  # chunked deletes instead, this time
            continue
        _delete_keys_of_detached(name, batch_size)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {name}")
        for org_id, count in counts.items():
            report.events[(org_id, name)] = count
        report.dropped_partitions.append(name)
        logger.info("retention: dropped partition %s (%s)", name, counts)
    # A process that still believes a dropped month exists sends its rows to DEFAULT, and the
    # partition maintenance moves them back into a partition: no event is ever rejected.
    partitions.forget_known_months()
    return remaining


def _detach(name: str) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{DETACH_LOCK_TIMEOUT}'")
            # Deferred foreign-key checks of rows written earlier in this transaction (only
            # ever the case in a test) would forbid the DETACH and DROP.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [partitions.PARTITION_LOCK])
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
    except Exception as exc:  # noqa: BLE001 - lock timeout: leave it for the next run
        logger.warning("retention: could not detach %s now (%s); deleting in chunks", name, exc)
        return False
    return True


def _delete_keys_of_detached(name: str, batch_size: int) -> None:
    """The keys of a detached partition's events, in chunks (the keys table is live)."""
    last: tuple[int, str] = (0, "")
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH chunk AS (
                    SELECT organization_id, event_id FROM {name}
                    WHERE (organization_id, event_id) > (%s, %s)
                    ORDER BY organization_id, event_id LIMIT %s
                ), gone AS (
                    DELETE FROM {_KEYS} k USING chunk c
                    WHERE k.organization_id = c.organization_id AND k.event_id = c.event_id
                )
                SELECT organization_id, event_id FROM chunk
                ORDER BY organization_id DESC, event_id DESC LIMIT 1
                """,
                [*last, batch_size],
            )
            row = cursor.fetchone()
        if row is None:
            return
        last = (row[0], row[1])


# --- Chunked deletes -------------------------------------------------------------------------


def _delete_events(
    table: str, org_id: int, cutoff: datetime, dry_run: bool, batch_size: int, pause: float
) -> int:
    if dry_run:
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT count(*) FROM {table} WHERE organization_id = %s AND "timestamp" < %s',
                [org_id, cutoff],
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0
    if connection.vendor != "postgresql":
        return _delete_events_sqlite(org_id, cutoff, batch_size, pause)
    statement = _PG_DELETE_CHUNK.format(table=table, keys=_KEYS)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [org_id, cutoff, batch_size])
            row = cursor.fetchone()
        deleted = int(row[0]) if row else 0
        total += deleted
        if deleted < batch_size:
            return total
        if pause:
            time.sleep(pause)


# One bounded chunk of an organization's expired events in primary-key order ((organization,
# timestamp, id): an index range scan), and their idempotency keys, in one statement.
_PG_DELETE_CHUNK = """
WITH chunk AS (
    SELECT organization_id, "timestamp", id FROM {table}
    WHERE organization_id = %s AND "timestamp" < %s
    ORDER BY "timestamp", id LIMIT %s
), gone AS (
    DELETE FROM {table} e USING chunk c
    WHERE e.organization_id = c.organization_id AND e."timestamp" = c."timestamp" AND e.id = c.id
    RETURNING e.organization_id, e.event_id
), keys AS (
    DELETE FROM {keys} k USING gone g
    WHERE k.organization_id = g.organization_id AND k.event_id = g.event_id
)
SELECT count(*) FROM gone
"""


def _delete_in_chunks(
    org_id: int, expired: QuerySet[Any], order: str, batch_size: int, pause: float
) -> int:
    """Delete `expired` (rows of organization `org_id`) oldest first, `batch_size` rows per
    short transaction, pausing between chunks; returns the count."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(expired.order_by(order, "id").values_list("id", flat=True)[:batch_size])
            if ids:
                expired.model.objects.filter(organization_id=org_id, id__in=ids).delete()
        total += len(ids)
        if len(ids) < batch_size:
            return total
        if pause:
            time.sleep(pause)


def _delete_events_sqlite(org_id: int, cutoff: datetime, batch_size: int, pause: float) -> int:
    expired = Event.objects.filter(organization_id=org_id, timestamp__lt=cutoff)
    return _delete_in_chunks(org_id, expired, "timestamp", batch_size, pause)


def _delete_sessions(
    org_id: int, cutoff: datetime, dry_run: bool, batch_size: int, pause: float
) -> int:
    """Sessions whose last call is older than the cutoff; one that straddles it keeps its
    whole aggregate (its older calls' events are gone, their sums are not)."""
    expired = Session.objects.filter(organization_id=org_id, last_seen__lt=cutoff)
    if dry_run:
        return expired.count()
    return _delete_in_chunks(org_id, expired, "last_seen", batch_size, pause)
