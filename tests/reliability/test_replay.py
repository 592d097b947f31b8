"""Replays: the same events sent several times, shuffled, by concurrent clients, while workers
roll up. Every event must count exactly once."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.reliability import procs
from tests.reliability.conftest import Fleet, Stack, Tenant
from tests.reliability.support import (
    Api,
    batches,
    compare,
    event_count,
    expected_from,
    make_events,
    pending,
    recompute,
    record,
    send_batches,
    stored,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def replay(
    *,
    api: Api,
    org_id: int,
    unique: int,
    copies: int,
    sessions: int,
    threads: int,
    batch_size: int,
    seed: int,
) -> None:
    events = make_events(unique, sessions=sessions, seed=seed, prefix=f"replay{seed}")
    sent = [dict(e) for e in events for _ in range(copies)]
    random.Random(seed).shuffle(sent)

    stats = send_batches(api, batches(sent, batch_size), threads=threads)

    # Every event was new exactly once, every other copy a duplicate.
    assert stats.new == unique, stats
    assert stats.duplicates == unique * (copies - 1), stats
    assert event_count(org_id) == unique

    wait_until(lambda: pending(org_id) == 0, timeout=120, interval=0.25, what="rollup")
    oracle = recompute(org_id)
    by_sql = compare(oracle, stored(org_id))
    from_source = compare(expected_from(events), stored(org_id))
    record(
        replay_events_sent=len(sent),
        replay_unique_events=unique,
        replay_events_lost=from_source.lost,
        replay_events_double_counted=from_source.double_counted,
        replay_503_retried=stats.statuses.get(503, 0),
        replay_5xx_seen=stats.server_errors,
    )
    assert by_sql.exact, by_sql
    assert from_source.exact, from_source
    assert from_source.lost == 0 and from_source.double_counted == 0


def test_same_10k_events_three_times_shuffled_from_concurrent_clients(
    live: Stack, fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    tenant = make_tenant("replay")
    # Two workers and beat roll up while the clients are still sending.
    w1 = fleet.worker(live.env, "replay1", wait=False)
    w2 = fleet.worker(live.env, "replay2", wait=False)
    beat = fleet.beat(live.env, wait=False)
    procs.wait_ready(w1, w2, beat)
    replay(
        api=tenant.api(live.url),
        org_id=tenant.org.pk,
        unique=10_000,
        copies=3,
        sessions=400,
        threads=6,
        batch_size=250,
        seed=1,
    )


def test_concurrent_batches_sharing_event_ids_are_all_accepted(
    live: Stack, make_tenant: Callable[[str], Tenant]
) -> None:
    """Two clients replay the same buffer at the same moment, one in order and one reversed
    (an SDK retrying while its previous attempt is still in flight). Both must get a 202.

    Their inserts take the unique-index locks of the shared event_ids in opposite orders; unless
    the insert orders its rows (for example `ORDER BY event_id, ord`), PostgreSQL detects a
    deadlock and one request is answered 503 instead.
    """
    tenant = make_tenant("overlap")
    api = tenant.api(live.url)
    statuses: Counter[int] = Counter()
    for round_ in range(6):
        events = make_events(1000, sessions=20, seed=100 + round_, prefix=f"overlap{round_}")
        barrier = threading.Barrier(2)

        def send(chunk: list[dict[str, Any]], barrier: threading.Barrier = barrier) -> int:
            barrier.wait()
            return api.batch(chunk).status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses.update(pool.map(send, [events, events[::-1]]))
    record(overlap_requests=sum(statuses.values()), overlap_503_seen=statuses.get(503, 0))
    assert event_count(tenant.org.pk) == 6000
    assert statuses == {202: 12}, f"concurrent replays were refused: {dict(statuses)}"
