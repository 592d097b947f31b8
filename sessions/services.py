"""Rollup: fold pending events into session aggregates, exactly once.

Each chunk (claim, aggregate, merge, delete the claimed work) is one transaction, run by the
sessions.rollup backend for the database in use. Drain loops until nothing is pending.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from metrics.hooks import rollup_counted
from sessions.models import PendingRollup
from sessions.rollup import rollup_backend
from sessions.signals import rollup_committed

logger = logging.getLogger(__name__)


@dataclass
class RollupStats:
    events: int = 0
    sessions: int = 0
    chunks: int = 0


def pending_high_water_mark() -> int:
    """The newest pending row's id (0 when none): a drain goes no further than this."""
    return PendingRollup.objects.aggregate(up_to=Max("id"))["up_to"] or 0


def session_rollup_chunk(
    *, organization_id: int | None = None, limit: int | None = None, up_to: int | None = None
) -> tuple[int, int]:
    """Fold one chunk of the rows pending up to `up_to` (default: all pending now)."""
    with transaction.atomic():
        claimed, sessions = rollup_backend().rollup_chunk(
            organization_id=organization_id,
            limit=limit or settings.ROLLUP_CHUNK_SIZE,
            up_to=up_to if up_to is not None else pending_high_water_mark(),
        )
    if claimed:
        rollup_committed.send(
            sender=session_rollup_chunk, organization_id=organization_id, events=claimed
        )
    return claimed, sessions


def session_rollup_drain(
    *, organization_id: int | None = None, limit: int | None = None, max_chunks: int | None = None
) -> RollupStats:
    """Roll up until nothing (for this organization, or at all) is pending.

    With concurrent workers a chunk may come back empty while others hold rows locked; those
    rows are theirs to finish, so an empty claim ends this drain. Rows that arrive during the
    drain wait for the next one (a task scheduled by their ingest, or the sweep): claims go in
    session order, and without the bound a steady stream of new rows for early sessions could
    starve the late ones.
    """
    stats = RollupStats()
    up_to = pending_high_water_mark()
    while max_chunks is None or stats.chunks < max_chunks:
        events, sessions = session_rollup_chunk(
            organization_id=organization_id, limit=limit, up_to=up_to
        )
        if events == 0:
            break
        stats.events += events
        stats.sessions += sessions
        stats.chunks += 1
        rollup_counted(events=events, sessions=sessions)
    if stats.events:
        logger.info(
            "rollup events=%d sessions=%d chunks=%d org=%s",
            stats.events,
            stats.sessions,
            stats.chunks,
            organization_id or "*",
        )
    return stats
