"""Fault tests on real processes: Redis stopped, a worker SIGKILLed mid-rollup, a PostgreSQL
connection dropped mid-request, several workers and beat racing over one backlog.

Each test starts its own Redis (never the system one) and its own gunicorn/worker/beat processes
against the test database, and stops exactly those.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import requests
from django.db import connection

from sessions.services import session_rollup_drain
from tests.factories import event
from tests.reliability import procs
from tests.reliability.conftest import Fleet, Stack, Tenant
from tests.reliability.support import (
    assert_folded_invariant,
    batches,
    compare,
    cost_of,
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


def _in_sessions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "session_id" in e]


def _assert_exact(org_id: int, events: list[dict[str, Any]], label: str) -> None:
    from_source = compare(expected_from(events), stored(org_id))
    by_sql = compare(recompute(org_id), stored(org_id))
    record(
        **{
            f"{label}_events_sent": len(events),
            f"{label}_events_lost": from_source.lost,
            f"{label}_events_double_counted": from_source.double_counted,
        }
    )
    assert by_sql.exact, by_sql
    assert from_source.exact, from_source


def _backend_pids(query_like: str, *, waiting_on_lock: bool) -> list[int]:
    """Server-side PostgreSQL backends of the test database running a matching statement."""
    sql = """
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE %s
    """
    if waiting_on_lock:
        sql += " AND wait_event_type = 'Lock'"
    with connection.cursor() as cursor:
        cursor.execute(sql, [query_like])
        return [row[0] for row in cursor.fetchall()]


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return bool(cursor.fetchone()[0])


def _side_connection() -> psycopg.Connection[Any]:
    """A second connection of the test process, for holding locks the server must wait on."""
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or None,
    )


# --- Redis stopped during ingestion ---------------------------------------------------------------


def test_redis_stopped_during_ingestion_then_sweeper_rolls_up_exactly(
    live: Stack, fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    tenant = make_tenant("outage")
    worker = fleet.worker(live.env, "outage", wait=False)
    beat = fleet.beat(live.env, wait=False)
    procs.wait_ready(worker, beat)
    server = live.server
    api = tenant.api(server.url)
    org_id = tenant.org.pk

    events = make_events(3000, sessions=90, seed=7, prefix="outage")
    before, during, after = events[:1000], events[1000:2000], events[2000:]

    stats = send_batches(api, batches(before, 250), threads=3)
    assert stats.statuses == {202: 4}, stats
    wait_until(lambda: pending(org_id) == 0, timeout=60, what="rollup before the outage")

    beat_offset, worker_offset = beat.log_size(), worker.log_size()
    with live.redis_down():
        # Whatever the worker had in hand is done once it has noticed the broker is gone.
        wait_until(
            lambda: "Connection to broker lost" in worker.log_since(worker_offset),
            timeout=30,
            what="the worker to lose its broker",
        )

        # Every request still answers 202 at once, not after a broker timeout; none is retried.
        latencies = []
        for chunk in batches(during, 100):
            started = time.monotonic()
            response = api.batch(chunk)
            latencies.append(time.monotonic() - started)
            assert response.status_code == 202, response.text
            assert response.json()["rejected"] == 0
        assert max(latencies) < 5, latencies
        ready = requests.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503 and "broker" in ready.json()["down"], ready.text
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200

        # Durable and pending: stored, and nothing rolled them up while Redis was away.
        assert event_count(org_id) == len(before) + len(during)
        # A sweep came due while Redis was away: beat could not send it to the worker.
        wait_until(
            lambda: "beat: Connection error" in beat.log_since(beat_offset),
            timeout=30,
            what="beat to fail to send a sweep during the outage",
        )
        assert pending(org_id) == len(during)  # every event is queued (daily cost table)
        assert_folded_invariant(org_id)
    # Redis is back (empty: no queued task, no debounce marker) on the same port.

    stats = send_batches(api, batches(after, 250), threads=3)
    assert stats.statuses == {202: 4}, stats
    wait_until(
        lambda: pending(org_id) == 0, timeout=120, interval=0.5, what="rollup after the outage"
    )
    _assert_exact(org_id, events, "redis_outage")
    assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
    record(redis_outage_requests_during_outage=len(latencies), redis_outage_5xx_seen=0)


# --- A worker SIGKILLed in the middle of a rollup -------------------------------------------------

_ROLLUP_LIKE = "%WITH claimed AS%"


def test_worker_sigkilled_mid_rollup_loses_and_doubles_nothing(
    live: Stack, fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    tenant = make_tenant("sigkill")
    org_id = tenant.org.pk
    env = {**live.env, "ROLLUP_CHUNK_SIZE": "500"}
    api = tenant.api(live.url)

    # A session whose aggregate row exists, so that a lock on it can stop a rollup midway. Its
    # events are queued last and its id sorts last: claimed in the last chunk either way.
    first = event(
        "locked-0", session_id="zz-locked", timestamp="2024-06-01T00:00:00Z", cost=cost_of(1000)
    )
    assert api.post("/v1/events", json=first).status_code == 202
    session_rollup_drain(organization_id=org_id)
    assert pending(org_id) == 0

    # The backlog: 12 chunks of other sessions, then a last chunk for the locked session.
    backlog = _in_sessions(make_events(6400, sessions=100, seed=11, prefix="kill"))[:6000]
    tail = [
        {**first, "event_id": f"locked-{i}", "timestamp": f"2024-06-0{1 + i % 9}T01:00:00Z"}
        for i in range(1, 21)
    ]
    assert send_batches(api, batches(backlog, 500), threads=2).new == 6000
    assert send_batches(api, [tail], threads=1).new == 20
    all_events = [first, *backlog, *tail]
    total = pending(org_id)
    assert total == 6020

    lock = _side_connection()
    try:
        lock.execute(
            "SELECT 1 FROM llm_sessions_session"
            " WHERE organization_id = %s AND session_id = 'zz-locked' FOR UPDATE",
            [org_id],
        )
        worker = fleet.worker(env, "victim")
        blocked = wait_until(
            lambda: _backend_pids(_ROLLUP_LIKE, waiting_on_lock=True),
            timeout=60,
            what="the rollup to reach the locked session",
        )
        # Mid-rollup: earlier chunks committed, the last one claimed but not committed.
        left = pending(org_id)
        assert 20 <= left < total, (left, total)
        assert_folded_invariant(org_id)

        worker.kill_group(signal.SIGKILL)
        worker.popen.wait(10)
        assert not worker.children()
    finally:
        lock.rollback()  # the orphaned rollup statement can now finish; its COMMIT never comes
        lock.close()
    wait_until(
        lambda: not any(_backend_alive(pid) for pid in blocked),
        timeout=30,
        what="the killed worker's transaction to end",
    )
    assert pending(org_id) == left  # the claimed chunk is pending again, not lost
    assert_folded_invariant(org_id)

    # The worker comes back (with beat, as deployed): the sweep finishes the job.
    restarted = fleet.worker(env, "restarted", wait=False)
    beat = fleet.beat(env, wait=False)
    procs.wait_ready(restarted, beat)
    wait_until(lambda: pending(org_id) == 0, timeout=90, what="rollup after the restart")
    _assert_exact(org_id, all_events, "worker_sigkill")
    assert stored(org_id)["zz-locked"][0] == 21


# --- PostgreSQL connection dropped mid-request ----------------------------------------------------


def _insert_blocking_event(conn: psycopg.Connection[Any], org_id: int, event_id: str) -> None:
    """Claim (uncommitted) this event id's idempotency key: the server's insert of the same id
    waits on it."""
    conn.execute(
        "INSERT INTO ingestion_eventkey (organization_id, event_id) VALUES (%s, %s)",
        [org_id, event_id],
    )


def _assert_clean_503(response: requests.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0


def test_postgres_connection_dropped_mid_request_is_a_clean_503(
    live: Stack, make_tenant: Callable[[str], Tenant]
) -> None:
    tenant = make_tenant("pgdrop")
    org_id = tenant.org.pk
    log_offset = live.server.proc.log_size()
    api = tenant.api(live.url)
    events = _in_sessions(make_events(420, sessions=10, seed=21, prefix="pgdrop"))[:400]

    # Write path: the batch insert is stopped halfway (200 rows written, uncommitted) by a row
    # our side connection holds, and its connection is terminated there.
    side = _side_connection()
    try:
        _insert_blocking_event(side, org_id, events[200]["event_id"])
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(api.batch, events)
            pids = wait_until(
                lambda: _backend_pids("%INSERT INTO ingestion_event%", waiting_on_lock=True),
                timeout=30,
                what="the server's insert to wait",
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pids[0]])
            response = future.result(timeout=30)
        _assert_clean_503(response)
        side.rollback()

        # Nothing half-written: no event of the batch, no rollup work.
        assert event_count(org_id) == 0
        assert pending(org_id) == 0

        # Read path: a query stopped by a table lock, its connection terminated.
        side.execute("LOCK TABLE llm_sessions_session IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(api.get, "/v1/analytics/sessions")
            pids = wait_until(
                lambda: _backend_pids("%llm_sessions_session%", waiting_on_lock=True),
                timeout=30,
                what="the server's read to wait",
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pids[0]])
            read = future.result(timeout=30)
        _assert_clean_503(read)
        side.rollback()
    finally:
        side.rollback()
        side.close()

    # The server recovers at once: the retried batch is stored whole, exactly once.
    retry = api.batch(events)
    assert retry.status_code == 202, retry.text
    assert retry.json()["accepted"] == 400 and retry.json()["duplicates"] == 0
    assert event_count(org_id) == 400
    assert pending(org_id) == 400
    assert api.get("/v1/analytics/sessions").status_code == 200
    assert "Traceback" not in live.server.proc.log_since(log_offset)
    record(pg_drop_requests=2, pg_drop_503=2, pg_drop_5xx_other=0)


# --- Three workers and beat racing ----------------------------------------------------------------


def _events_rolled_up_per_worker(proc: procs.Proc) -> int:
    # "Task sessions.rollup[...] succeeded in 0.12s: 842": the task returns the events it folded.
    pattern = r"Task sessions\.\w+\[[^\]]+\] succeeded in \S+: (\d+)"
    return sum(int(n) for n in re.findall(pattern, proc.log()))


def test_three_workers_and_beat_race_over_the_same_backlog(
    live: Stack, fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    tenant = make_tenant("race")
    org_id = tenant.org.pk
    env = {**live.env, "ROLLUP_CHUNK_SIZE": "200", "ROLLUP_SWEEP_SECONDS": "0.5"}
    api = tenant.api(live.url)

    # A backlog over few sessions, so that concurrent chunks fight over the same aggregate rows.
    backlog = make_events(5000, sessions=20, seed=31, prefix="race")
    assert send_batches(api, batches(backlog, 500), threads=2).new == 5000
    assert pending(org_id) == len(backlog)  # every event is queued (daily cost table)

    workers = [fleet.worker(env, f"race{i}", wait=False) for i in range(3)]
    beat = fleet.beat(env, wait=False)
    procs.wait_ready(*workers, beat)
    # More events keep arriving while they race.
    more = make_events(2000, sessions=20, seed=32, prefix="race-more")
    assert send_batches(api, batches(more, 100), threads=3).new == 2000

    wait_until(lambda: pending(org_id) == 0, timeout=120, interval=0.5, what="the race")
    _assert_exact(org_id, backlog + more, "race")
    folded = [_events_rolled_up_per_worker(w) for w in workers]
    assert sum(folded) == len(backlog + more), folded
    assert sum(1 for n in folded if n) >= 2, f"the workers did not really race: {folded}"
    for w in workers:
        assert "deadlock detected" not in w.log()
        assert "Traceback" not in w.log(), w.log()[-3000:]
    record(race_workers=3)
