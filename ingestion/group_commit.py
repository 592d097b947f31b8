"""Group commit: the events of concurrent ingest requests written in one transaction.

Each request hands its priced events to `GroupCommit.write` and blocks until they are
committed, so a 202 still means "durable" (SPEC section 5). There is no writer thread: the
first waiting request thread that finds no write in progress becomes the leader, takes every
write queued so far (its own included) and stores them on its own database connection in one
transaction, while the requests that arrive meanwhile queue up for the next leader. Under load
that turns N BEGIN/INSERT/COMMIT round trips (and N WAL flushes) into one of each; alone, a
request leads a group of one and pays nothing extra.

Writes of one organization are merged into one store call when their event_ids are distinct
(a repeated id starts a second call in the same transaction, so the later request sees the
earlier one's row and reports a duplicate, as it would have one after the other).

Grouping is optional (INGEST_GROUP_COMMIT, off by default): a write that is not grouped is
written at once as a group of its own, with the same single statement and retries, and never
waits for another request's write. Since single statements need no BEGIN/COMMIT, that measured
a lower p99 at the same throughput than grouping (docs/performance.md).

A group that comes down to a single statement (one store call that `one_statement` says is
one, the common case: one organization's few events) runs in autocommit mode instead: the
statement is a transaction of its own, committed (and flushed) like any COMMIT, so the BEGIN and
COMMIT round trips are saved and durability is unchanged.

If the group's transaction fails, no request is failed for another's fault: each write is
retried alone, in its own transaction, and only a write that fails alone raises (in its own
request). A broken connection (the server restarted, an idle connection was cut) is closed
and the writes retried on a new one, a group of one included; this replaces Django's
per-request `SELECT 1` health check on this path. A retry after a COMMIT whose outcome was lost
with the connection may answer `duplicate: true` for an event this request stored: the event
is still stored exactly once (its idempotency key).
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)

# store(organization_id, events, received_at) -> the event_ids that were new. Runs inside the
# group's transaction (events_store in ingestion/services.py).
Store = Callable[[int, Sequence[Any], datetime], set[str]]
# one_statement(events) -> whether store() writes these events with one statement.
OneStatement = Callable[[Sequence[Any]], bool]


@dataclass
class _Write:
    organization_id: int
    events: Sequence[Any]  # (ValidEvent, cost_source) pairs
    event_ids: frozenset[str]
    received_at: datetime
    done: bool = False
    committed: bool = False
    new_event_ids: set[str] = field(default_factory=set)
    error: BaseException | None = None


def _calls(group: list[_Write]) -> list[list[_Write]]:
    """The store calls of a group: per organization, writes merged while their ids differ."""
    calls: list[list[_Write]] = []
    open_calls: dict[int, tuple[list[_Write], set[str]]] = {}
    for write in group:
        current = open_calls.get(write.organization_id)
        if current is None or not current[1].isdisjoint(write.event_ids):
            current = ([], set())
            open_calls[write.organization_id] = current
            calls.append(current[0])
        current[0].append(write)
        current[1].update(write.event_ids)
    return calls


def _store_call(store: Store, writes: list[_Write]) -> None:
    events = [event for write in writes for event in write.events]
    # One received_at per statement: the latest, so no event is stamped before it arrived.
    received_at = max(write.received_at for write in writes)
    new_ids = store(writes[0].organization_id, events, received_at)
    for write in writes:
        write.new_event_ids = new_ids & write.event_ids


class GroupCommit:
    def __init__(self, store: Store, one_statement: OneStatement | None = None) -> None:
        self._store = store
        self._one_statement = one_statement
        self._cv = threading.Condition()
        self._pending: list[_Write] = []
        self._leading = False

    def write(
        self,
        *,
        organization_id: int,
        events: Sequence[Any],
        event_ids: frozenset[str],
        received_at: datetime,
        grouped: bool = True,
    ) -> set[str]:
        """Store `events` in a group transaction; returns the event_ids that were new once
        that transaction has committed. Raises what storing them alone raised.

        `grouped=False` writes them at once as a group of their own, without waiting for
        another request's write: the same statement, autocommit and retry as a group of one."""
        mine = _Write(organization_id, events, event_ids, received_at)
        if not grouped:
            self._write_group([mine])
            if mine.error is not None:
                raise mine.error
            return mine.new_event_ids
        with self._cv:
            self._pending.append(mine)
            while not mine.done:
                if self._leading:
                    self._cv.wait()
                    continue
                self._leading = True
                group, self._pending = self._pending, []
                self._cv.release()
                try:
                    self._write_group(group)
                finally:
                    self._cv.acquire()
                    self._leading = False
                    self._cv.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.new_event_ids

    def _write_group(self, group: list[_Write]) -> None:
        # No SELECT 1 first (CONN_HEALTH_CHECKS): a dead connection fails the group, which is
        # then retried on a new one, so the check would only add a round trip per group.
        connection.health_check_done = True  # type: ignore[attr-defined]
        try:
            try:
                calls = _calls(group)
                if len(calls) == 1 and self._is_one_statement(calls[0]):
                    _store_call(self._store, calls[0])  # autocommit: the statement commits
                else:
                    with transaction.atomic():
                        for call in calls:
                            _store_call(self._store, call)
                for write in group:
                    write.committed = True
            except Exception as exc:  # noqa: BLE001 - any failure: retry alone, or raise in its request
                # A lost connection (or a deadlock) is worth one more try even for a group of
                # one; Django has already replaced a connection it could not roll back.
                if len(group) == 1 and not isinstance(exc, OperationalError | InterfaceError):
                    group[0].error = exc
                    return
                if connection.connection is not None and not connection.is_usable():
                    connection.close()  # the retries reconnect
                logger.warning(
                    "group commit of %d writes failed (%s); retrying each alone",
                    len(group),
                    type(exc).__name__,
                )
                self._retry_alone(group)
        finally:
            for write in group:
                if not write.committed and write.error is None:
                    # Interrupted (the leader's thread is being torn down): say so rather
                    # than let the waiting requests answer as if their events were stored.
                    write.error = RuntimeError("the group commit was interrupted")
                write.done = True

    def _is_one_statement(self, writes: list[_Write]) -> bool:
        return (
            self._one_statement is not None
            and connection.get_autocommit()
            and self._one_statement([event for write in writes for event in write.events])
        )

    def _retry_alone(self, group: list[_Write]) -> None:
        for write in group:
            write.new_event_ids = set()
            try:
                with transaction.atomic():
                    _store_call(self._store, [write])
                write.committed = True
            except Exception as exc:  # noqa: BLE001 - any failure: retry alone, or raise in its request
                write.error = exc
