"""All of the rollup's SQL, behind one small interface.

    backend = rollup_backend()            # for the database in use
    result = backend.rollup_chunk(organization_id=..., limit=..., up_to=..., cursor=START)
    result.claimed, result.sessions       # rows folded, sessions upserted
    result.cursor                         # where the drain's next claim starts

- postgres.py: PostgresRollup, one claim-aggregate-merge statement per chunk (production).
- sqlite.py: SqliteRollup, recomputes the touched sessions and days (the embedded default).
- queue.py: the pending-queue columns that the events insert fills (ingestion/event_store.py).
- cursor.py: ClaimCursor, where a drain's next claim starts, and ChunkResult.

Each chunk must run inside a transaction (sessions.services does that): the claimed queue rows
are deleted in the same transaction that folds them, so a crash loses and doubles nothing.
"""

from typing import Protocol

from django.db import connection

from sessions.rollup.cursor import START, ChunkResult, ClaimCursor


class RollupBackend(Protocol):
    vendor: str

    def rollup_chunk(
        self, *, organization_id: int, limit: int, up_to: int, cursor: ClaimCursor = START
    ) -> ChunkResult:
        """Fold up to `limit` queue rows of the organization with id <= up_to, from `cursor`
        on, into their sessions and the daily cost table, and delete them; returns the rows
        claimed, the sessions upserted and the next claim's cursor. One organization per
        statement: a distributed engine routes it to one shard."""
        ...


def rollup_backend() -> RollupBackend:
    if connection.vendor == "postgresql":
        from sessions.rollup.postgres import PostgresRollup

        return PostgresRollup()
    from sessions.rollup.sqlite import SqliteRollup

    return SqliteRollup()
