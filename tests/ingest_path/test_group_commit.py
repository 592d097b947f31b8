"""Group commit (ingestion/group_commit.py) on PostgreSQL: concurrent ingests share one
transaction, each learns exactly which of its events were new, and a failure of the group
fails only the write that fails on its own.

The groups are made deterministic with a gate: the first leader's store waits until the other
writes are queued behind it, so they form the next group.
"""

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.db.utils import DataError

from infraprism.models import Organization
from ingestion.group_commit import GroupCommit
from ingestion.models import Event
from ingestion.services import events_ingest, events_price, events_store, events_validate
from tests.factories import event
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="group commit is PostgreSQL's"),
]


def _priced(organization_id: int, *event_ids: str) -> list[Any]:
    items = [event(event_id, cost=Decimal("0.002"), session_id="s-1") for event_id in event_ids]
    result = events_validate(items=items, now=datetime.now(UTC))
    assert not result.errors, result.errors
    return events_price(organization_id=organization_id, events=result.valid)


def _refused(organization_id: int, event_id: str) -> list[Any]:
    """A priced event the database refuses in the events insert, after the statement has
    claimed its idempotency key: its model made longer than the column after validation."""
    priced = _priced(organization_id, event_id)
    priced[0][0].model = "m" * 201  # ingestion_event.model is varchar(200)
    return priced


class GatedStore:
    """events_store, recording each call's organization and event ids; the first call waits
    until `queued` writes are pending behind it."""

    def __init__(self, committer: Callable[[], GroupCommit], queued: int) -> None:
        self.calls: list[tuple[int, list[str]]] = []
        self.committer = committer
        self.queued = queued
        self.lock = threading.Lock()

    def __call__(
        self, organization_id: int, events: Sequence[Any], received_at: datetime
    ) -> set[str]:
        with self.lock:
            first = not self.calls
            self.calls.append((organization_id, [e.event_id for e, _ in events]))
        if first:
            wait_until(lambda: len(self.committer()._pending) >= self.queued, timeout=20)
        return events_store(organization_id, events, received_at)


def _write_all(
    group: GroupCommit, writes: list[tuple[int, list[Any]]]
) -> list[set[str] | BaseException]:
    """Each write from its own thread (its own connection); results in order."""
    results: list[set[str] | BaseException] = [set()] * len(writes)

    def one(index: int, organization_id: int, events: list[Any]) -> None:
        try:
            results[index] = group.write(
                organization_id=organization_id,
                events=events,
                event_ids=frozenset(e.event_id for e, _ in events),
                received_at=datetime.now(UTC),
            )
        except BaseException as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=one, args=(i, org_id, events))
        for i, (org_id, events) in enumerate(writes)
    ]
    threads[0].start()
    wait_until(lambda: bool(store.calls), timeout=20)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


store: GatedStore  # the current test's store (module-level for _write_all's wait)


def _committer(queued: int) -> GroupCommit:
    global store
    box: list[GroupCommit] = []
    store = GatedStore(lambda: box[0], queued)
    box.append(GroupCommit(store))
    return box[0]


def test_concurrent_writes_share_one_statement_and_each_learns_its_new_ids(
    org: Organization, other_org: Organization
) -> None:
    group = _committer(queued=5)
    writes = [
        (org.pk, _priced(org.pk, "first")),
        (org.pk, _priced(org.pk, "a")),
        (org.pk, _priced(org.pk, "b", "c")),
        (other_org.pk, _priced(other_org.pk, "a")),
        (org.pk, _priced(org.pk, "first")),  # already stored by the first group
        (org.pk, _priced(org.pk, "d")),
    ]
    results = _write_all(group, writes)
    assert results == [{"first"}, {"a"}, {"b", "c"}, {"a"}, set(), {"d"}]
    # The first group alone, then one statement per organization for the other five.
    assert store.calls[0] == (org.pk, ["first"])
    assert sorted(store.calls[1:]) == sorted(
        [(org.pk, ["a", "b", "c", "first", "d"]), (other_org.pk, ["a"])]
    )
    stored = sorted(Event.objects.values_list("organization_id", "event_id"))
    assert stored == sorted(
        [(org.pk, e) for e in ("first", "a", "b", "c", "d")] + [(other_org.pk, "a")]
    )


def test_the_same_id_twice_in_one_group_is_new_once(org: Organization) -> None:
    group = _committer(queued=3)
    writes = [(org.pk, _priced(org.pk, "gate"))] + [(org.pk, _priced(org.pk, "x"))] * 3
    results = _write_all(group, writes)
    assert results[0] == {"gate"}
    assert sorted(len(r) for r in results[1:] if isinstance(r, set)) == [
        0,
        0,
        1,
    ]  # one request stored it
    assert Event.objects.filter(event_id="x").count() == 1
    # A repeated id starts a second statement in the same transaction.
    assert [len(ids) for _, ids in store.calls[1:]] == [1, 1, 1]


def test_a_failing_write_fails_alone(org: Organization) -> None:
    group = _committer(queued=3)
    writes = [
        (org.pk, _priced(org.pk, "gate")),
        (org.pk, _priced(org.pk, "innocent-1")),
        (org.pk, _refused(org.pk, "refused")),
        (org.pk, _priced(org.pk, "innocent-2")),
    ]
    results = _write_all(group, writes)
    assert results[0] == {"gate"}
    assert results[1] == {"innocent-1"}
    assert isinstance(results[2], DataError), results[2]
    assert results[3] == {"innocent-2"}
    assert sorted(Event.objects.values_list("event_id", flat=True)) == [
        "gate",
        "innocent-1",
        "innocent-2",
    ]


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "alone"])
def test_a_dead_connection_is_replaced_without_failing_the_request(
    org: Organization, settings: Any, grouped: bool
) -> None:
    """Small writes skip Django's SELECT 1 health check, grouped or not; a connection killed
    while idle must still not fail the next ingest."""
    settings.INGEST_GROUP_COMMIT = grouped
    before = events_ingest(organization_id=org.pk, items=[event("before", cost=Decimal("0.1"))])
    assert before.accepted
    pid = connection.connection.info.backend_pid
    with psycopg.connect(_libpq_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    result = events_ingest(organization_id=org.pk, items=[event("after", cost=Decimal("0.1"))])
    assert result.new_event_ids == {"after"}
    assert Event.objects.filter(event_id="after").count() == 1


def test_inside_a_callers_transaction_the_events_join_it(org: Organization) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        events_ingest(organization_id=org.pk, items=[event("rolled-back", cost=Decimal("0.1"))])
        raise RuntimeError("the caller gives up")
    assert not Event.objects.filter(event_id="rolled-back").exists()


def _libpq_url() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")}
    )


class _CountingAtomic:
    """Stands in for django.db.transaction in ingestion.group_commit: counts atomic blocks."""

    def __init__(self) -> None:
        self.blocks = 0

    def atomic(self, *args: Any, **kwargs: Any) -> Any:
        self.blocks += 1
        return transaction.atomic(*args, **kwargs)


@pytest.mark.parametrize("grouped", [True, False], ids=["grouped", "alone"])
def test_a_lone_small_write_is_one_statement_without_a_transaction_block(
    org: Organization, monkeypatch: pytest.MonkeyPatch, settings: Any, grouped: bool
) -> None:
    """One organization's few events in a known month: one statement in autocommit mode (no
    BEGIN/COMMIT round trips), with the event, its idempotency key and its queue row."""
    settings.INGEST_GROUP_COMMIT = grouped
    from ingestion import group_commit
    from ingestion.models import EventKey
    from lifecycle import partitions
    from sessions.models import PendingRollup

    events_ingest(organization_id=org.pk, items=[event("warm", cost=Decimal("0.1"))])
    counting = _CountingAtomic()
    monkeypatch.setattr(group_commit, "transaction", counting)
    result = events_ingest(
        organization_id=org.pk,
        items=[event("one", cost=Decimal("0.1"), session_id="s-9"), event("two")],
    )
    assert result.new_event_ids == {"one", "two"}
    assert counting.blocks == 0
    assert not connection.in_atomic_block
    assert set(EventKey.objects.values_list("event_id", flat=True)) >= {"one", "two"}
    assert PendingRollup.objects.filter(event_id__in=["one", "two"]).count() == 2

    # A month this process has not seen may need its partition first: a transaction again.
    partitions.forget_known_months()
    result = events_ingest(organization_id=org.pk, items=[event("three")])
    assert result.new_event_ids == {"three"}
    assert counting.blocks == 1


def test_a_lone_failing_statement_leaves_nothing_behind(org: Organization) -> None:
    """Without a transaction block the statement is still all or nothing: a write refused in
    its events insert, after its key was claimed, keeps no idempotency key, event or queue
    row."""
    from ingestion.models import EventKey
    from ingestion.services import _group_commit
    from sessions.models import PendingRollup

    events_ingest(organization_id=org.pk, items=[event("warm", cost=Decimal("0.1"))])
    with pytest.raises(DataError):
        _group_commit.write(
            organization_id=org.pk,
            events=_refused(org.pk, "refused"),
            event_ids=frozenset({"refused"}),
            received_at=datetime.now(UTC),
        )
    assert not EventKey.objects.filter(event_id="refused").exists()
    assert not Event.objects.filter(event_id="refused").exists()
    assert not PendingRollup.objects.filter(event_id="refused").exists()
    # The connection is usable again for the next request.
    assert events_ingest(organization_id=org.pk, items=[event("next")]).new_event_ids == {"next"}
