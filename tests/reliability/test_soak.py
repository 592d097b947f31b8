"""Soak runs (`make soak`, i.e. `pytest -m soak tests/reliability`): the fault and replay tests,
longer and bigger. Skipped unless `-m soak` selects them (see conftest.py)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.reliability import procs
from tests.reliability.conftest import Fleet, Stack, Tenant
from tests.reliability.support import (
    batches,
    make_events,
    pending,
    record,
    send_batches,
)
from tests.reliability.test_faults import _assert_exact
from tests.reliability.test_hostile_input import _slow_client
from tests.reliability.test_replay import replay
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.soak,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


def test_soak_replay_100k_events_three_times(
    live: Stack, fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    tenant = make_tenant("soak-replay")
    started = [fleet.worker(live.env, f"soak{i}", wait=False) for i in range(3)]
    started.append(fleet.beat(live.env, wait=False))
    procs.wait_ready(*started)
    replay(
        api=tenant.api(live.url),
        org_id=tenant.org.pk,
        unique=100_000,
        copies=3,
        sessions=5_000,
        threads=8,
        batch_size=500,
        seed=1001,
    )


def test_soak_workers_killed_again_and_again_under_load(
    live: Stack, fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    """Ingestion never stops while, every few seconds, a worker's pool process or the whole
    worker is SIGKILLed (and restarted). At the end: exact."""
    tenant = make_tenant("soak-chaos")
    env = {**live.env, "ROLLUP_CHUNK_SIZE": "300", "ROLLUP_SWEEP_SECONDS": "1"}
    workers = [fleet.worker(env, f"chaos{i}", wait=False) for i in range(2)]
    procs.wait_ready(*workers, fleet.beat(env, wait=False))
    events = make_events(60_000, sessions=300, seed=2002, prefix="chaos")
    rng = random.Random(2002)
    stop = threading.Event()
    kills = {"pool": 0, "worker": 0}

    def chaos() -> None:
        generation = 0
        while not stop.wait(rng.uniform(2, 5)):
            index = rng.randrange(len(workers))
            victim = workers[index]
            children = victim.children()
            if children and rng.random() < 0.6:
                os.kill(rng.choice(children), signal.SIGKILL)
                kills["pool"] += 1
            else:
                victim.kill_group(signal.SIGKILL)
                victim.popen.wait(10)
                generation += 1
                workers[index] = fleet.worker(env, f"chaos{index}-{generation}")
                kills["worker"] += 1

    with ThreadPoolExecutor(max_workers=1) as pool:
        monkey = pool.submit(chaos)
        try:
            # ~300 batches over about a minute, while the chaos goes on.
            stats = send_batches(tenant.api(live.url), batches(events, 200), threads=3, pace=0.6)
        finally:
            stop.set()
            monkey.result()
    assert stats.new == len(events)
    wait_until(lambda: pending(tenant.org.pk) == 0, timeout=300, what="final rollup")
    record(chaos_pool_kills=kills["pool"], chaos_worker_kills=kills["worker"])
    assert kills["pool"] + kills["worker"] >= 8, kills
    _assert_exact(tenant.org.pk, events, "chaos")


def test_soak_redis_flapping_during_ingestion(
    live: Stack, fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    tenant = make_tenant("soak-flap")
    procs.wait_ready(fleet.worker(live.env, "flap", wait=False), fleet.beat(live.env, wait=False))
    events = make_events(40_000, sessions=200, seed=3003, prefix="flap")
    stop = threading.Event()
    outages = 0

    def flap() -> None:
        nonlocal outages
        while not stop.wait(3):
            with live.redis_down():
                outages += 1
                stop.wait(3)

    with ThreadPoolExecutor(max_workers=1) as pool:
        flapper = pool.submit(flap)
        try:
            # ~400 batches over about a minute: ten outages or so.
            stats = send_batches(tenant.api(live.url), batches(events, 100), threads=3, pace=0.45)
        finally:
            stop.set()
            flapper.result()
    assert stats.new == len(events) and stats.server_errors == 0, stats
    wait_until(lambda: pending(tenant.org.pk) == 0, timeout=300, what="final rollup")
    record(flap_outages=outages)
    assert outages >= 5
    _assert_exact(tenant.org.pk, events, "flap")


def test_soak_as_many_slow_clients_as_server_threads(
    live: Stack, make_tenant: Callable[[str], Tenant]
) -> None:
    """8 slow clients against `make run`'s 2 workers x 4 threads: does normal traffic still get
    through? (With gunicorn's threaded workers alone it does not: each slow client holds a
    thread until its body is complete. A buffering proxy in front, or async workers, fix it.)"""
    tenant = make_tenant("slowloris")
    slow_statuses: list[int] = []
    in_body: list[int] = []
    slow = [
        threading.Thread(
            target=_slow_client, args=(live.server.port, tenant.key, 0.5, slow_statuses, in_body)
        )
        for _ in range(8)
    ]
    for thread in slow:
        thread.start()
    try:
        wait_until(lambda: len(in_body) == len(slow), timeout=30, what="slow clients in bodies")
        latencies = []
        for _ in range(10):
            started = time.monotonic()
            try:
                requests.get(f"{live.url}/healthz", timeout=5)
                latencies.append(time.monotonic() - started)
            except requests.RequestException:
                latencies.append(float("inf"))
        record(slowloris_clients=8, slowloris_requests_stalled=sum(lat > 3 for lat in latencies))
        assert max(latencies) < 3, latencies
    finally:
        for thread in slow:
            thread.join(120)
