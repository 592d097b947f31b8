"""Freshness under steady load: from an event's 202 to the call showing in its session.

    .venv/bin/python bench/freshness.py [--rate N] [--seconds S] [--batch N]

gunicorn serves the API and a real Celery worker with embedded beat (as `make worker` runs
it) does the rollups, both against the bench database and Redis db 10. One client sends
`--rate` events/s in batches of `--batch` (timestamps = now) for `--seconds`, across a rolling
set of 50 live sessions. A poller reads the session aggregates every 25 ms: call k of a session
is visible once the session's turn_count reaches k (the rollup claims pending events in arrival
order). Latency = first poll that sees it - the moment its 202 arrived.
"""

import argparse
import random
import sys
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, load, servers

TARGET_P95_S = 2.0
LIVE_SESSIONS = 50
SESSION_LIFETIME_S = 5.0
POLL_INTERVAL_S = 0.025


class Tracker:
    """Per session: how many calls were acknowledged, and when each one was."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, list[float]] = {}  # session -> ack time of call 1, 2, ...
        self.visible: dict[str, int] = {}  # session -> calls already seen
        self.latencies: list[float] = []

    def ack(self, sessions: list[str], at: float) -> None:
        with self.lock:
            for session in sessions:
                self.acked.setdefault(session, []).append(at)

    def outstanding(self) -> list[str]:
        with self.lock:
            return [s for s, acks in self.acked.items() if self.visible.get(s, 0) < len(acks)]

    def observe(self, counts: dict[str, int], at: float) -> None:
        with self.lock:
            for session, turns in counts.items():
                acks = self.acked.get(session, [])
                seen = self.visible.get(session, 0)
                upto = min(turns, len(acks))
                for index in range(seen, upto):
                    self.latencies.append(at - acks[index])
                self.visible[session] = max(seen, upto)

    def pending_count(self) -> int:
        with self.lock:
            return sum(len(a) - self.visible.get(s, 0) for s, a in self.acked.items())


def poll_counts(conn: Any, org_id: int, sessions: list[str]) -> dict[str, int]:
    if not sessions:
        return {}
    rows = conn.execute(
        "SELECT session_id, turn_count FROM llm_sessions_session "
        "WHERE organization_id = %s AND session_id = ANY(%s)",
        (org_id, sessions),
    ).fetchall()
    return {session: int(turns) for session, turns in rows}


def wait_visible(org_id: int, session: str, turns: int, timeout: float) -> float | None:
    started = time.perf_counter()
    with common.connect() as conn:
        while time.perf_counter() - started < timeout:
            if poll_counts(conn, org_id, [session]).get(session, 0) >= turns:
                return time.perf_counter() - started
            time.sleep(0.1)
    return None


def event(session: str, n: int, prefix: str = "fresh") -> dict[str, Any]:
    model, provider = common.MODELS[n % len(common.MODELS)]
    return {
        "event_id": f"{prefix}-{n}",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "model": model,
        "provider": provider,
        "entity_type": "customer",
        "entity_id": f"cust-{zlib.crc32(session.encode()) % 1000:05d}",
        "session_id": session,
        "input_tokens": 500 + n % 1000,
        "output_tokens": 100 + n % 300,
        "tags": {"feature": common.FEATURES[n % 5]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--batch", type=int, default=20, help="events per request")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    common.reset_database()
    common.setup_django()
    common.banner("freshness: 202 -> visible in the session, real Celery worker + beat")
    org_id, key = common.create_org_and_key()
    rng = random.Random(5)
    tracker = Tracker()
    request_latencies: list[float] = []
    failures: list[str] = []

    with servers.gunicorn() as server, servers.celery_worker() as worker_log:
        client = load.Client(server.port, key)
        # The worker is ready once it has rolled up a first batch.
        warm = [event("warm-up", n, prefix="warm") for n in range(5)]
        status, body = client.request("POST", "/v1/events/batch", orjson.dumps({"events": warm}))
        assert status == 202, (status, body)
        ready = wait_visible(org_id, "warm-up", 5, timeout=120)
        if ready is None:
            print(worker_log.read_text()[-3000:])
            raise SystemExit("the Celery worker never rolled up the warm-up batch")
        print(f"worker ready: first rollup visible {ready:.1f}s after its 202", flush=True)

        stop = threading.Event()

        def poller() -> None:
            with common.connect() as conn:
                while not stop.is_set():
                    at = time.perf_counter()
                    tracker.observe(poll_counts(conn, org_id, tracker.outstanding()), at)
                    time.sleep(POLL_INTERVAL_S)

        poll_thread = threading.Thread(target=poller, daemon=True)
        poll_thread.start()

        interval = args.batch / args.rate
        batches = int(args.seconds / interval)
        started = time.perf_counter()
        sent = 0
        for index in range(batches):
            due = started + index * interval
            if (delay := due - time.perf_counter()) > 0:
                time.sleep(delay)
            generation = int((time.perf_counter() - started) / SESSION_LIFETIME_S)
            sessions = [
                f"live-{generation}-{rng.randrange(LIVE_SESSIONS)}" for _ in range(args.batch)
            ]
            items = [event(s, sent + i) for i, s in enumerate(sessions)]
            sent += len(items)
            t0 = time.perf_counter()
            status, body = client.request(
                "POST", "/v1/events/batch", orjson.dumps({"events": items})
            )
            at = time.perf_counter()
            request_latencies.append(at - t0)
            if status != 202:
                failures.append(f"HTTP {status}: {body[:200]!r}")
                continue
            tracker.ack(sessions, at)
        send_wall = time.perf_counter() - started

        deadline = time.perf_counter() + 15
        while tracker.pending_count() and time.perf_counter() < deadline:
            time.sleep(0.1)
        stop.set()
        poll_thread.join()
        client.close()

    lost = tracker.pending_count()
    lat = tracker.latencies
    print()
    common.print_table(
        ["events", "achieved rate", "visible", "never seen", "p50 s", "p95 s", "p99 s", "max s"],
        [
            [
                f"{sent:,}",
                f"{sent / send_wall:,.0f}/s",
                f"{len(lat):,}",
                lost,
                f"{common.percentile(lat, 50):.3f}",
                f"{common.percentile(lat, 95):.3f}",
                f"{common.percentile(lat, 99):.3f}",
                f"{max(lat, default=float('nan')):.3f}",
            ]
        ],
    )
    print(
        f"batch requests: {len(request_latencies)} of {args.batch} events, "
        f"p50 {common.ms(common.percentile(request_latencies, 50))} ms, "
        f"p95 {common.ms(common.percentile(request_latencies, 95))} ms; "
        f"poll interval {POLL_INTERVAL_S * 1000:.0f} ms"
    )
    for failure in failures[:5]:
        print("  problem:", failure)
    summary = common.Summary()
    # An event never seen counts as infinitely late.
    p95 = common.percentile(lat + [float("inf")] * lost, 95)
    summary.add("freshness_p95_s", p95, "<=", TARGET_P95_S, fmt=".3f")
    summary.print()
    return 1 if failures or lost else 0


if __name__ == "__main__":
    sys.exit(main())
