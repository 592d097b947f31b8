"""Several rollups at once, and one killed mid-transaction, against committed PostgreSQL data.

The rollups run in separate OS processes on the test database, as Celery workers would.
"""

import random
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from infraprism.models import Organization
from sessions.models import PendingRollup
from sessions.services import session_rollup_drain
from tests.factories import event
from tests.reliability import procs
from tests.reliability.procs import Child
from tests.rollup.helpers import T0, database_url_for_subprocess, ingest, pending
from tests.rollup.recompute import (
    recompute,
    recompute_daily,
    recompute_daily_tags,
    snapshot,
    snapshot_daily,
    snapshot_daily_tags,
)
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent rollups need PostgreSQL"
    ),
]

CHILDREN = "tests.rollup.children"  # drain-on-go, hold-one-chunk (ruff- and mypy-checked)


def child_env(**extra: str) -> dict[str, str]:
    """A rollup child's environment: the test database, no Redis (nothing scheduled)."""
    return procs.service_env(database_url_for_subprocess(), "", **extra)


@pytest.fixture(autouse=True)
def _no_scheduling(settings: Any) -> None:
    """Ingest leaves events pending: no in-process rollup, no task (REDIS_URL empty)."""
    settings.ROLLUP_IN_PROCESS = False
    settings.REDIS_URL = ""


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


def make_events(
    rng: random.Random, count: int, sessions: list[str], prefix: str, day: int = 0
) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        # Keyword arguments are evaluated in order: the seeded draws are the same on every run.
        item = event(
            f"{prefix}-{i}",
            session_id=rng.choice(sessions),
            timestamp=(
                T0.replace(
                    hour=rng.randrange(24),
                    minute=rng.randrange(60),
                    microsecond=rng.randrange(10**6),
                )
                + timedelta(days=day)
            ).isoformat(),
            model=rng.choice(["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"]),
            cost=Decimal(rng.randrange(10**7)).scaleb(-9),
            input_tokens=rng.randrange(5000),
            output_tokens=rng.randrange(500),
            cached_input_tokens=rng.randrange(100),
            status="error" if rng.random() < 0.1 else "success",
            tags={
                rng.choice(["env", "team", "feature"]): rng.choice(["a", "b", "c"])
                for _ in range(rng.randrange(3))
            },
        )
        if rng.random() < 0.5:
            item["entity_type"] = "customer"
            item["entity_id"] = f"c{rng.randrange(20)}"
        events.append(item)
    return events


def ingest_all(org: Organization, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1000):
        ingest(org.pk, events[start : start + 1000])


def test_three_concurrent_rollup_processes_count_every_event_once(
    make_org: Callable[..., Organization], children: list[Child]
) -> None:
    # Started first: their Django start-up overlaps the ingest below.
    env = child_env(ROLLUP_CHUNK_SIZE="500")
    for _ in range(3):
        children.append(Child.module(CHILDREN, "drain-on-go", env=env, stdin=True))

    rng = random.Random(20240601)
    org, other = make_org(), make_org()
    sessions = [f"s{i}" for i in range(500)]
    events = make_events(rng, 20_000, sessions, "ev")
    ingest_all(org, events[:18_000])
    ingest_all(other, events[18_000:])  # two organizations in the same queue
    ingest(org.pk, events[:1000])  # replayed: all duplicates, nothing queued
    assert PendingRollup.objects.count() == 20_000

    for child in children:
        child.wait_for("^ready$", timeout=60)
    for child in children:  # all three start claiming at the same moment
        child.send("go\n")
    claimed = []
    for child in children:
        done = child.wait_for("^done ", timeout=60)
        assert child.finish(timeout=30) == 0, child.transcript()
        claimed.append(int(done.split()[1]))

    assert sum(claimed) == 20_000, claimed  # every queued event claimed by exactly one process
    assert sum(1 for n in claimed if n) >= 2, f"the processes did not interleave: {claimed}"
    assert PendingRollup.objects.count() == 0
    for organization in (org, other):
        stored = snapshot(organization.pk)
        assert stored == recompute(organization.pk)
        assert snapshot_daily(organization.pk) == recompute_daily(organization.pk)
        assert snapshot_daily_tags(organization.pk) == recompute_daily_tags(organization.pk)
    assert sum(row["turn_count"] for row in snapshot(org.pk).values()) == 18_000
    assert sum(row["turn_count"] for row in snapshot(other.pk).values()) == 2_000


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_a_rollup_killed_mid_transaction_loses_and_doubles_nothing(
    org: Organization, children: list[Child]
) -> None:
    rng = random.Random(7)
    # Queued first and named to sort first: the holder's chunk of 500 is exactly these events,
    # whether chunks are claimed in queue order or in (organization, session) order.
    held_sessions = [f"a-held-{i}" for i in range(20)]
    free_sessions = [f"b-free-{i}" for i in range(60)]
    # On another day than the free ones: a held chunk also holds its daily cost rows, and a
    # concurrent chunk adding to the same rows waits for it (docs/decisions.md).
    ingest_all(org, make_events(rng, 500, held_sessions, "held", day=-1))
    ingest_all(org, make_events(rng, 1500, free_sessions, "free"))

    holder = Child.module(CHILDREN, "hold-one-chunk", str(org.pk), "500", env=child_env())
    children.append(holder)
    line = holder.wait_for("^claimed ", timeout=30)
    assert line.split()[1] == "500"

    # SKIP LOCKED: a concurrent drain passes over the held chunk and finishes everything else.
    stats = session_rollup_drain(organization_id=org.pk, limit=200)
    assert stats.events == 1500
    assert pending(org.pk) == 500  # the holder's delete is not committed
    expected = recompute(org.pk)
    stored = snapshot(org.pk)
    assert set(stored) == set(free_sessions)  # the holder's upserts are invisible too
    assert stored == {s: expected[s] for s in free_sessions}

    # A new event for a session the holder has locked: that drain must wait, not skip it.
    ingest(org.pk, [event("late", session_id="a-held-0", cost=1)])
    result: dict[str, Any] = {}

    def drain_in_thread() -> None:
        try:
            # One chunk: it claims only the new event (the held rows are skipped).
            stats = session_rollup_drain(organization_id=org.pk, max_chunks=1)
            result["events"] = stats.events
        except BaseException as exc:  # surfaced by the assertion below
            result["error"] = exc
        finally:
            connection.close()

    waiter = threading.Thread(target=drain_in_thread)
    waiter.start()
    try:
        wait_until(
            lambda: lock_waiters() >= 1,
            timeout=10,
            interval=0.05,
            what="the drain to wait on a lock",
        )
        assert waiter.is_alive()
        holder.kill()  # a worker crash: the server rolls its transaction back
    finally:
        waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert "error" not in result, result
    assert result["events"] == 1

    assert pending(org.pk) == 500  # the killed chunk is pending again
    session_rollup_drain(organization_id=org.pk)
    assert pending(org.pk) == 0
    assert snapshot(org.pk) == recompute(org.pk)
    assert snapshot_daily(org.pk) == recompute_daily(org.pk)
    assert snapshot_daily_tags(org.pk) == recompute_daily_tags(org.pk)
    assert sum(row["turn_count"] for row in snapshot(org.pk).values()) == 2001
