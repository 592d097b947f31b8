"""Rollup: fold pending events into session aggregates and the daily cost table, exactly once.

Each chunk (claim, aggregate, merge, delete the claimed work) is one transaction over one
organization, run by the sessions.rollup backend for the database in use. Drain loops until
nothing is pending; the global drain (the sweep) drains one organization after another, so no
statement spans organizations (a distributed engine routes each to one shard).
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from metrics.hooks import rollup_counted
from sessions.models import PendingRollup
from sessions.rollup import rollup_backend
from sessions.rollup.cursor import START, ChunkResult, ClaimCursor
from sessions.signals import rollup_committed

logger = logging.getLogger(__name__)


@dataclass
class RollupStats:
    events: int = 0
    sessions: int = 0
    chunks: int = 0


def pending_high_water_mark(organization_id: int) -> int:
    """The organization's newest pending row's id (0 when none): a drain goes no further."""
    rows = PendingRollup.objects.filter(organization_id=organization_id)
    return rows.aggregate(up_to=Max("id"))["up_to"] or 0


def pending_organizations() -> list[int]:
    """Organizations with pending rows, in id order."""
    return list(
        PendingRollup.objects.order_by("organization_id")
        .values_list("organization_id", flat=True)
        .distinct()
    )


def session_rollup_chunk(
    *,
    organization_id: int | None = None,
    limit: int | None = None,
    up_to: int | None = None,
    cursor: ClaimCursor = START,
) -> ChunkResult:
    """Fold one chunk of the organization's rows pending up to `up_to` (default: all pending
    now), claiming from `cursor` on; without an organization, of the first organization with
    pending rows."""
    if organization_id is None:
        organizations = pending_organizations()
        if not organizations:
            return ChunkResult(0, 0, cursor)
        organization_id = organizations[0]
    with transaction.atomic():
        result = rollup_backend().rollup_chunk(
            organization_id=organization_id,
            limit=limit or settings.ROLLUP_CHUNK_SIZE,
            up_to=up_to if up_to is not None else pending_high_water_mark(organization_id),
            cursor=cursor,
        )
    if result.claimed:
        rollup_committed.send(
            sender=session_rollup_chunk, organization_id=organization_id, events=result.claimed
        )
    return result


def session_rollup_drain(
    *, organization_id: int | None = None, limit: int | None = None, max_chunks: int | None = None
) -> RollupStats:
    """Roll up until nothing (for this organization, or at all) is pending.

    Without an organization: drains each organization with pending rows in turn.

    With concurrent workers a chunk may come back empty while others hold rows locked; those
    rows are theirs to finish, so an empty claim ends this drain. Rows that arrive during the
    drain wait for the next one (a task scheduled by their ingest, or the sweep): claims go in
    session order, and without the bound a steady stream of new rows for early sessions could
    starve the late ones. Each claim resumes at the previous chunk's cursor
    (sessions/rollup/cursor.py), so a long drain does not walk its own deleted rows again.
    """
    if organization_id is None:
        total = RollupStats()
        for organization in pending_organizations():
            stats = session_rollup_drain(
                organization_id=organization, limit=limit, max_chunks=max_chunks
            )
            total.events += stats.events
            total.sessions += stats.sessions
            total.chunks += stats.chunks
        return total
    stats = RollupStats()
    up_to = pending_high_water_mark(organization_id)
    cursor = START
    while max_chunks is None or stats.chunks < max_chunks:
        result = session_rollup_chunk(
            organization_id=organization_id, limit=limit, up_to=up_to, cursor=cursor
        )
        if result.claimed == 0:
            break
        cursor = result.cursor
        stats.events += result.claimed
        stats.sessions += result.sessions
        stats.chunks += 1
        rollup_counted(events=result.claimed, sessions=result.sessions)
    if stats.events:
        logger.info(
            "rollup events=%d sessions=%d chunks=%d org=%d",
            stats.events,
            stats.sessions,
            stats.chunks,
            organization_id,
        )
    return stats
