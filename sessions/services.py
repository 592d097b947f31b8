"""Rollup: fold pending events into session aggregates, exactly once.

Each chunk (claim, aggregate, merge, delete the claimed work) is one transaction in the
dialect module for the database in use. Drain loops until nothing is pending.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from sessions import rollup_postgres, rollup_sqlite

logger = logging.getLogger(__name__)


@dataclass
class RollupStats:
    events: int = 0
    sessions: int = 0
    chunks: int = 0


def session_rollup_chunk(
    *, organization_id: int | None = None, limit: int | None = None
) -> tuple[int, int]:
    dialect = rollup_postgres if connection.vendor == "postgresql" else rollup_sqlite
    with transaction.atomic():
        return dialect.rollup_chunk(
            organization_id=organization_id, limit=limit or settings.ROLLUP_CHUNK_SIZE
        )


def session_rollup_drain(
    *, organization_id: int | None = None, limit: int | None = None, max_chunks: int | None = None
) -> RollupStats:
    """Roll up until nothing (for this organization, or at all) is pending.

    With concurrent workers a chunk may come back empty while others hold rows locked; those
    rows are theirs to finish, so an empty claim ends this drain.
    """
    stats = RollupStats()
    while max_chunks is None or stats.chunks < max_chunks:
        events, sessions = session_rollup_chunk(organization_id=organization_id, limit=limit)
        if events == 0:
            break
        stats.events += events
        stats.sessions += sessions
        stats.chunks += 1
    if stats.events:
        logger.info(
            "rollup events=%d sessions=%d chunks=%d org=%s",
            stats.events,
            stats.sessions,
            stats.chunks,
            organization_id or "*",
        )
    return stats
