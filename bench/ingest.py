"""Ingestion throughput through HTTP, beside its physical limit and a naive DRF baseline.

    .venv/bin/python bench/ingest.py [--batches N] [--clients N] [--single-seconds S]

1. raw COPY: psycopg COPY of the same rows into ingestion_event (all its indexes), then their
   ingestion_pendingrollup rows (INSERT ... SELECT of the product's pending columns from the
   rows just copied), one transaction per 1,000-row batch, from `--clients` connections: the
   physical limit of this table on this machine.
2. POST /v1/events/batch (1,000 events a request) through gunicorn, `--clients` keep-alive
   clients. 1 and 2 run twice each, in alternating order (COPY first, then the product first),
   each after a CHECKPOINT; the ratio is of the totals, and each round's ratio is printed.
3. the naive endpoint (bench/naive.py: ModelSerializer(many=True) + save()), same batches.
4. POST /v1/events, one event a request, 8 keep-alive clients.
5. issue 17's baselines for it, same gunicorn config, same clients and duration, same run
   (bench/baseline_views.py, a server without middleware): a bare Django view, and the same
   view parsing the body and running one INSERT ... ON CONFLICT DO NOTHING + COMMIT through
   psycopg. POST /v1/events is judged as a ratio to the second. 4 and 5 run interleaved:
   three slices of each in turn, the order rotating; server CPU per request is printed too.
6. its physical limit: one INSERT (event + pending row) and COMMIT per event, 8 connections.

The table is emptied between phases, so every phase writes into the same starting state.
"""

import argparse
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, load, servers

# Before the product's modules: ingestion.event_store imports models.
common.setup_django()

from ingestion.event_store import EVENT_COLUMNS, event_row  # noqa: E402
from lifecycle import partitions  # noqa: E402
from lifecycle.months import months_of  # noqa: E402

BATCH = 1000
TARGET_VS_COPY = 0.5
TARGET_VS_NAIVE = 10.0
TARGET_SINGLE_RPS = 1000.0
TARGET_SINGLE_P99_MS = 25.0
TARGET_SINGLE_VS_INSERT_BASELINE = 0.8
SINGLE_CLIENTS = 8
# The product's own column list, so the COPY baseline writes exactly what ingestion writes.
COPY_COLUMNS = ("id", "organization_id", "received_at", *EVENT_COLUMNS)


def make_event(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    """One SDK event: half carry a client cost, half are priced from the price table."""
    model, provider = common.MODELS[n % len(common.MODELS)]
    session = rng.randrange(20_000)
    event: dict[str, Any] = {
        "event_id": f"ev-{n}",
        "timestamp": (now - timedelta(seconds=rng.randrange(3600)))
        .isoformat()
        .replace("+00:00", "Z"),
        "model": model,
        "provider": provider,
        "entity_type": "customer",
        "entity_id": f"cust-{session % 1000:05d}",
        "session_id": f"s-{session}",
        "input_tokens": rng.randrange(50, 4000),
        "output_tokens": rng.randrange(10, 1000),
        "cached_input_tokens": rng.randrange(0, 50),
        "latency_ms": rng.randrange(100, 5000),
        "status": "error" if n % 50 == 0 else "success",
        "tags": {"feature": common.FEATURES[session % 5], "env": "prod"},
    }
    if n % 2:
        event["cost"] = Decimal(rng.randrange(1, 10**7)) / Decimal(10**9)
    return event


def encode(body: Any) -> bytes:
    return orjson.dumps(body, default=lambda d: float(d) if isinstance(d, Decimal) else str(d))


def single_jobs(
    url: str, bodies: list[bytes], *, reverse: bool = False
) -> Callable[[int], load.Job]:
    """Request n: POST body n (or n from the end, for warming up on bodies not measured)."""

    def job(n: int) -> load.Job:
        return ("POST", url, bodies[-1 - n] if reverse else bodies[n])

    return job


ROUNDS = 3
BATCH_ROUNDS = 2
SINGLE_LABELS = {
    "product": "POST /v1/events (single)",
    "bare": "baseline: bare Django view, no middleware",
    "insert": "baseline: same + JSON + INSERT ON CONFLICT + COMMIT",
}


@dataclass
class SingleRun:
    result: load.LoadResult = field(default_factory=load.LoadResult)
    cpu_seconds: float = 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.result.ok if self.result.ok else float("nan")


def single_phase(
    paths: dict[str, tuple[servers.Server, str, list[bytes]]], key: str, seconds: float
) -> dict[str, SingleRun]:
    """`seconds` of load on each path, in ROUNDS slices taken in turn (order rotating), each
    slice sending the next unsent bodies of its path."""
    runs = {name: SingleRun() for name in paths}
    names = list(paths)
    for round_number in range(ROUNDS):
        for name in names[round_number % len(names) :] + names[: round_number % len(names)]:
            server, url, bodies = paths[name]
            run = runs[name]
            sent = run.result.total
            cpu_before = server.cpu_seconds()
            part = load.run_load(
                server.port,
                key,
                single_jobs(url, bodies[sent:]),
                clients=SINGLE_CLIENTS,
                max_requests=len(bodies) - sent,
                max_seconds=seconds / ROUNDS,
                ok_statuses=(202,),
            )
            run.cpu_seconds += server.cpu_seconds() - cpu_before
            run.result.latencies.extend(part.latencies)
            run.result.wall += part.wall
            run.result.errors.extend(part.errors)
            for status, count in part.statuses.items():
                run.result.statuses[status] = run.result.statuses.get(status, 0) + count
    return runs


def copy_rows(org_id: int, batches: list[list[dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """The rows the product would store for these batches (validated and priced by the product's
    own functions, outside the timed part), with ids assigned up front."""
    from ingestion.services import events_price, events_validate

    now = datetime.now(UTC)
    out = []
    stamps: list[datetime] = []
    next_id = 1
    for items in batches:
        result = events_validate(items=items, now=now)
        assert not result.errors, result.errors[:1]
        rows = []
        for event, source in events_price(organization_id=org_id, events=result.valid):
            rows.append((next_id, org_id, now, *event_row(event, str(source))))
            stamps.append(event.timestamp)
            next_id += 1
        out.append(rows)
    # The months' partitions, as the product's insert makes them before its first event
    # (otherwise COPY would route every row into the DEFAULT partition).
    partitions.ensure_months(months_of(stamps))
    return out


def copy_phase(rows: list[list[tuple[Any, ...]]], clients: int) -> tuple[float, list[float]]:
    """COPY every batch (events + pending rows, one transaction each); (wall, per-batch s)."""
    pending_columns, pending_values = common.pending_row_sql()
    lock = threading.Lock()
    todo = iter(range(len(rows)))
    latencies: list[float] = []
    columns = ", ".join(f'"{c}"' for c in COPY_COLUMNS)

    def worker() -> None:
        with common.connect(autocommit=False) as conn, conn.cursor() as cur:
            while True:
                with lock:
                    index = next(todo, None)
                if index is None:
                    return
                started = time.perf_counter()
                with cur.copy(f"COPY ingestion_event ({columns}) FROM STDIN") as copy:
                    for row in rows[index]:
                        copy.write_row(row)
                # The pending rows: the product's columns, from the rows just copied.
                cur.execute(
                    f"INSERT INTO ingestion_pendingrollup ({pending_columns}) "
                    f"SELECT {pending_values} FROM ingestion_event "
                    "WHERE id BETWEEN %s AND %s AND session_id IS NOT NULL",
                    (rows[index][0][0], rows[index][-1][0]),
                )
                conn.commit()
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def single_row_phase(
    rows: list[tuple[Any, ...]], clients: int, seconds: float
) -> tuple[int, float, list[float]]:
    """The physical limit of the single-event path: one INSERT of an event and its pending
    row, then COMMIT, per row, from `clients` connections; bounded in time."""
    lock = threading.Lock()
    todo = iter(rows)
    latencies: list[float] = []
    columns = COPY_COLUMNS[1:]  # the id comes from the sequence, as in the product
    names = ", ".join(f'"{c}"' for c in columns)
    pending_columns, pending_values = common.pending_row_sql()
    statement = (
        f"WITH inserted AS (INSERT INTO ingestion_event ({names}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING *) "
        f"INSERT INTO ingestion_pendingrollup ({pending_columns}) "
        f"SELECT {pending_values} FROM inserted WHERE session_id IS NOT NULL"
    )
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        local = []
        with common.connect(autocommit=False) as conn:
            while time.perf_counter() < deadline:
                with lock:
                    row = next(todo, None)
                if row is None:
                    break
                started = time.perf_counter()
                conn.execute(statement, row[1:])
                conn.commit()
                local.append(time.perf_counter() - started)
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), time.perf_counter() - started, latencies


def stored_counts() -> tuple[int, int]:
    with common.connect() as conn:
        events = conn.execute("SELECT count(*) FROM ingestion_event").fetchone()
        pending = conn.execute("SELECT count(*) FROM ingestion_pendingrollup").fetchone()
    assert events is not None and pending is not None
    return int(events[0]), int(pending[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=100, help="1,000-event batches per phase")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--naive-batches", type=int, default=10)
    parser.add_argument("--single-seconds", type=float, default=15.0)
    parser.add_argument("--max-seconds", type=float, default=90.0, help="bound of each phase")
    args = parser.parse_args()

    common.reset_database()
    common.banner("ingest: batch and single-event ingestion")
    org_id, key = common.create_org_and_key()

    rng = random.Random(42)
    now = datetime.now(UTC)
    batches = [
        [make_event(rng, b * BATCH + i, now) for i in range(BATCH)] for b in range(args.batches)
    ]
    bodies = [encode({"events": items}) for items in batches]
    rows = copy_rows(org_id, batches)
    print(
        f"{args.batches} batches of {BATCH} events ({sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB "
        f"of JSON each), {args.clients} concurrent clients per batch phase",
        flush=True,
    )

    table: list[list[Any]] = []
    failures: list[str] = []

    def record(name: str, clients: int, events: int, wall: float, latencies: list[float]) -> float:
        rate = events / wall if wall else 0.0
        table.append(
            [
                name,
                clients,
                f"{events:,}",
                f"{wall:.2f}",
                f"{rate:,.0f}",
                common.ms(common.percentile(latencies, 50)),
                common.ms(common.percentile(latencies, 95)),
                common.ms(common.percentile(latencies, 99)),
            ]
        )
        return rate

    def check_stored(name: str, expected: int) -> None:
        events, pending = stored_counts()
        if events != expected or pending != expected:
            failures.append(f"{name}: stored {events} events / {pending} pending, sent {expected}")

    per_path = int(args.single_seconds * 3000)
    single_bodies = [encode(make_event(rng, 10_000_000 + n, now)) for n in range(per_path)]
    insert_bodies = [encode(make_event(rng, 20_000_000 + n, now)) for n in range(per_path)]
    bare_bodies = insert_bodies
    with servers.gunicorn() as server:
        # Warm both gunicorn workers (imports, connections, the staging table) first.
        common.truncate_events()
        load.run_load(
            server.port,
            key,
            lambda n: ("POST", "/v1/events/batch", bodies[n % len(bodies)]),
            clients=4,
            max_requests=8,
            max_seconds=30,
        )

        # 1 and 2. The physical limit (raw COPY) and the product, BATCH_ROUNDS times each in
        # alternating order, every phase on an empty table after a CHECKPOINT: one phase alone
        # in one order made the ratio swing with whatever else the machine did meanwhile.
        copy_wall, copy_latencies, round_ratios, batch_cpu = 0.0, [], [], 0.0
        batch = load.LoadResult()
        for round_number in range(BATCH_ROUNDS):
            rates: dict[str, float] = {}
            for phase in ("copy", "http") if round_number % 2 == 0 else ("http", "copy"):
                common.truncate_events()
                common.checkpoint()
                if phase == "copy":
                    wall, latencies = copy_phase(rows, args.clients)
                    copy_wall += wall
                    copy_latencies.extend(latencies)
                    rates[phase] = len(rows) * BATCH / wall
                    check_stored("copy", len(rows) * BATCH)
                    continue
                cpu_before = server.cpu_seconds()
                result = load.run_load(
                    server.port,
                    key,
                    lambda n: ("POST", "/v1/events/batch", bodies[n]),
                    clients=args.clients,
                    max_requests=len(bodies),
                    max_seconds=args.max_seconds,
                    ok_statuses=(202,),
                )
                failures.extend(result.errors[:3])
                batch_cpu += server.cpu_seconds() - cpu_before
                batch.latencies.extend(result.latencies)
                batch.wall += result.wall
                rates[phase] = result.ok * BATCH / result.wall
                check_stored("batch", result.ok * BATCH)
            round_ratios.append(rates["http"] / rates["copy"])
        copy_rate = record(
            "raw COPY (psycopg)",
            args.clients,
            BATCH_ROUNDS * len(rows) * BATCH,
            copy_wall,
            copy_latencies,
        )
        http_rate = record(
            "POST /v1/events/batch", args.clients, batch.ok * BATCH, batch.wall, batch.latencies
        )

        # 3. The naive baseline, same batches, fewer of them (it is slow).
        common.truncate_events()
        result = load.run_load(
            server.port,
            key,
            lambda n: ("POST", "/bench/naive/events/batch", bodies[n]),
            clients=args.clients,
            max_requests=min(args.naive_batches, len(bodies)),
            max_seconds=args.max_seconds,
            ok_statuses=(202,),
        )
        failures.extend(result.errors[:3])
        naive_rate = record(
            "naive DRF ModelSerializer(many=True)",
            args.clients,
            result.ok * BATCH,
            result.wall,
            result.latencies,
        )
        check_stored("naive", result.ok * BATCH)

        # 4 and 5. Single events beside issue 17's baselines (a second server, without
        # middleware), interleaved: ROUNDS slices of each in turn, so a change in the machine's
        # load during the run weighs on all three alike.
        with servers.gunicorn(
            DJANGO_SETTINGS_MODULE="bench.baseline_settings",
            BASELINE_ORGANIZATION_ID=str(org_id),
        ) as baseline_server:
            common.truncate_events()
            paths = {
                "product": (server, "/v1/events", single_bodies),
                "bare": (baseline_server, "/baseline/bare", bare_bodies),
                "insert": (baseline_server, "/baseline/insert", insert_bodies),
            }
            for target, url, bodies_of in paths.values():
                load.run_load(  # warm every worker thread's connection
                    target.port,
                    key,
                    single_jobs(url, bodies_of, reverse=True),
                    clients=SINGLE_CLIENTS,
                    max_requests=200,
                    max_seconds=10,
                    ok_statuses=(202,),
                )
            common.truncate_events()
            single_runs = single_phase(paths, key, args.single_seconds)
    for name, label in SINGLE_LABELS.items():
        run = single_runs[name]
        failures.extend(run.result.errors[:3])
        record(label, SINGLE_CLIENTS, run.result.ok, run.result.wall, run.result.latencies)
    single = single_runs["product"].result
    single_rps = single.ok / single.wall
    insert_rps = single_runs["insert"].result.ok / single_runs["insert"].result.wall
    check_stored("single + insert baseline", single.ok + single_runs["insert"].result.ok)

    # 6. Its physical limit: INSERT + COMMIT per event from 8 psycopg connections.
    common.truncate_events()
    count, wall, latencies = single_row_phase(
        [row for batch in rows for row in batch], SINGLE_CLIENTS, min(args.single_seconds, 10.0)
    )
    raw_rps = record(
        "raw INSERT + COMMIT per event (psycopg)", SINGLE_CLIENTS, count, wall, latencies
    )
    check_stored("single raw", count)

    print()
    common.print_table(
        ["path", "clients", "events", "seconds", "events/s", "p50 ms", "p95 ms", "p99 ms"], table
    )
    print("(latencies are per request: one 1,000-event batch, or one event for the single path)")
    print(
        "batch ingest vs raw COPY by round (alternating order): "
        + ", ".join(f"{ratio:.2f}" for ratio in round_ratios)
    )
    print(
        "server CPU per 1,000-event batch (gunicorn master + workers): "
        f"{batch_cpu * 1000 / max(batch.ok, 1):.1f} ms"
    )
    print(f"single events: HTTP reaches {single_rps / raw_rps:.2f} of raw INSERT + COMMIT")
    print(
        "server CPU per request (gunicorn master + workers, ms):",
        ", ".join(f"{name} {run.cpu_ms_per_request:.2f}" for name, run in single_runs.items()),
    )
    print(
        f"single events: POST /v1/events reaches {single_rps / insert_rps:.2f} of the insert "
        f"baseline (p99 {common.ms(common.percentile(single.latencies, 99))} ms vs "
        f"{common.ms(common.percentile(single_runs['insert'].result.latencies, 99))} ms)"
    )
    for failure in failures:
        print("  problem:", failure)

    summary = common.Summary()
    summary.add("ingest_vs_copy", http_rate / copy_rate, ">=", TARGET_VS_COPY)
    summary.add(
        "ingest_vs_naive",
        http_rate / naive_rate if naive_rate else 0.0,
        ">=",
        TARGET_VS_NAIVE,
        fmt=".1f",
    )
    summary.add("single_event_rps", single_rps, ">=", TARGET_SINGLE_RPS, fmt=",.0f")
    summary.add(
        "single_event_vs_insert_baseline",
        single_rps / insert_rps,
        ">=",
        TARGET_SINGLE_VS_INSERT_BASELINE,
    )
    summary.add(
        "single_event_p99_ms",
        common.percentile(single.latencies, 99) * 1000,
        "<=",
        TARGET_SINGLE_P99_MS,
        fmt=".1f",
    )
    summary.print()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
