"""Data lifecycle on PostgreSQL: monthly partitions, the idempotency key table, retention.

    .venv/bin/python bench/lifecycle.py
    LIFECYCLE_EVENTS=500000 .venv/bin/python bench/lifecycle.py   # a smaller run

1. Ingest before/after partitioning, side by side in one run: the same events inserted with
   the statements of the unpartitioned table (migration 0007, unique (organization, event_id)
   on the events table; the product's statement before this change) into a second database
   (the bench database's name + `_plain`), and with the product's statements (key table first, partitioned
   events) into the bench database; single events (inline VALUES, one transaction each) and
   1,000-event batches (COPY staging). Alternating rounds, median of each.
2. LIFECYCLE_EVENTS (default 10,000,000) events over 12 months generated in SQL into the
   partitioned table (with their keys), one organization, 20 calls a session.
3. EXPLAIN of the SQL every analytics endpoint runs for the last month: partitions scanned.
4. Rollup throughput with 1, 2 and 4 worker processes (sessions.services.session_rollup_drain
   in each, the way Celery workers share the queue) over last month's and this month's events
   made pending.
5. Retention of the 3 oldest months timed: two partitions dropped whole, the third shared with
   another organization and emptied of the first one's events by chunked deletes.
"""

import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

EVENTS = int(os.environ.get("LIFECYCLE_EVENTS", "10000000"))
MONTHS = 12
CALLS_PER_SESSION = 20
SINGLE_EVENTS = int(os.environ.get("LIFECYCLE_SINGLE_EVENTS", "1500"))
BATCHES = int(os.environ.get("LIFECYCLE_BATCHES", "20"))
BATCH_SIZE = 1000
ROUNDS = 3
BEFORE_PARTITIONING = "0007_event_price_id"


def plain_url() -> str:
    """The baseline database: the bench database's name + `_plain`, on the same server."""
    parts = urlsplit(common.libpq_url(common.database_url()))
    return urlunsplit(parts._replace(path=f"{parts.path}_plain"))


def reset_plain_database() -> None:
    """The baseline: a database migrated fully, then back to ingestion 0007 (unpartitioned)."""
    parts = urlsplit(plain_url())
    name = sql.Identifier(parts.path.lstrip("/"))
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    env = common.service_env(DATABASE_URL=plain_url())
    for args in (["migrate"], ["migrate", "ingestion", BEFORE_PARTITIONING]):
        subprocess.run(
            [sys.executable, "manage.py", *args, "--noinput", "-v", "0"],
            cwd=common.REPO,
            env=env,
            check=True,
        )


# --- 1. Ingest before and after ----------------------------------------------------------------


def statements_before() -> tuple[str, str]:
    """The insert of the unpartitioned table (as ingestion/event_store.py had it at 0007):
    inline VALUES for one event, and the COPY staging variant."""
    from ingestion import event_store as store

    def build(source: str) -> str:
        return f"""
WITH inserted AS (
    INSERT INTO ingestion_event (organization_id, received_at, {store._COLUMN_LIST})
    {source}
    ON CONFLICT (organization_id, event_id) DO NOTHING
    RETURNING {store._PENDING_SOURCE}
), queued AS (
    {store._QUEUE_INSERT}
)
SELECT event_id FROM inserted
"""

    row = "(" + ", ".join(["%s"] * (len(store.EVENT_COLUMNS) + 2)) + ")"
    single = build(f"VALUES {row}")
    batch = build(
        f"SELECT %(org)s, %(received_at)s, {store._COLUMN_LIST} FROM ingest_staging ORDER BY ord"
    )
    return single, batch


def event_rows(prefix: str, count: int) -> list[tuple[Any, ...]]:
    from ingestion.event_store import event_row
    from ingestion.validation import ValidEvent

    now = datetime.now(UTC)
    return [
        event_row(
            ValidEvent(
                event_id=f"{prefix}-{n:08d}",
                timestamp=now - timedelta(seconds=n * 7 % 200_000),
                model="gpt-4o",
                provider="openai",
                entity_type="customer",
                entity_id=f"cust-{n % 500}",
                session_id=f"{prefix}-s-{n // CALLS_PER_SESSION}",
                input_tokens=100 + n % 900,
                output_tokens=20 + n % 300,
                cached_input_tokens=0,
                cost_nanos=1500,
                latency_ms=300,
                status="success",
                tags={"feature": ("chat", "search", "agent")[n % 3]},
            ),
            "client",
        )
        for n in range(count)
    ]


def insert_single(conn: Any, org_id: int, rows: list[tuple[Any, ...]], partitioned: bool) -> None:
    from ingestion import event_store as store

    before_single, _ = statements_before()
    now = datetime.now(UTC)
    with conn.cursor() as cur:
        for row in rows:
            if partitioned:
                cur.execute(store._pg_insert_values(1), [0, *row, org_id, org_id, now])
            else:
                cur.execute(before_single, [org_id, now, *row])
            conn.commit()


def insert_batches(
    conn: Any, org_id: int, batches: list[list[tuple[Any, ...]]], partitioned: bool
) -> None:
    from ingestion import event_store as store

    _, before_batch = statements_before()
    statement = store._PG_INSERT if partitioned else before_batch
    with conn.cursor() as cur:
        for rows in batches:
            rows = sorted(rows, key=lambda row: str(row[0]))
            cur.execute(store._STAGING_DDL)
            with cur.copy(f"COPY ingest_staging (ord, {store._COLUMN_LIST}) FROM STDIN") as copy:
                for ordinal, row in enumerate(rows):
                    copy.write_row((ordinal, *row))
            cur.execute(statement, {"org": org_id, "received_at": datetime.now(UTC)})
            conn.commit()


def ingest_side_by_side(org_id: int, summary: common.Summary) -> None:
    from sessions.rollup import queue

    print(f"\n-- ingest: {SINGLE_EVENTS} single events, {BATCHES} x {BATCH_SIZE}-event batches")
    urls = {"before (0007, unpartitioned)": plain_url(), "after (partitioned + keys)": None}
    with psycopg.connect(plain_url()) as conn:
        conn.execute(
            "INSERT INTO infraprism_organization (id, slug, name, is_active, created_at, "
            "time_zone) VALUES (%s, 'bench', 'Bench', true, now(), 'UTC') "
            "ON CONFLICT DO NOTHING",
            [org_id],
        )
        conn.commit()
    results: dict[tuple[str, str], list[float]] = {}
    for round_no in range(ROUNDS):
        for label, url in urls.items():
            partitioned = url is None
            target = url or common.libpq_url(common.database_url())
            with psycopg.connect(target, cursor_factory=psycopg.ClientCursor) as conn:
                conn.execute(f"TRUNCATE ingestion_event, {queue.QUEUE_TABLE}")
                if partitioned:
                    conn.execute("TRUNCATE ingestion_eventkey")
                conn.commit()
                singles = event_rows(f"r{round_no}-single", SINGLE_EVENTS)
                started = time.perf_counter()
                insert_single(conn, org_id, singles, partitioned)
                single_rate = SINGLE_EVENTS / (time.perf_counter() - started)
                batches = [event_rows(f"r{round_no}-b{b}", BATCH_SIZE) for b in range(BATCHES)]
                started = time.perf_counter()
                insert_batches(conn, org_id, batches, partitioned)
                batch_rate = BATCHES * BATCH_SIZE / (time.perf_counter() - started)
                stored = conn.execute("SELECT count(*) FROM ingestion_event").fetchone()
                expected = SINGLE_EVENTS + BATCHES * BATCH_SIZE
                if stored is None or stored[0] != expected:
                    summary.fail(f"ingest {label}", f"stored {stored} of {expected}")
            results.setdefault((label, "single"), []).append(single_rate)
            results.setdefault((label, "batch"), []).append(batch_rate)
            print(
                f"round {round_no + 1} {label}: single {single_rate:,.0f} events/s, "
                f"batch {batch_rate:,.0f} events/s",
                flush=True,
            )
    rows = []
    for kind in ("single", "batch"):
        before = statistics.median(results[("before (0007, unpartitioned)", kind)])
        after = statistics.median(results[("after (partitioned + keys)", kind)])
        rows.append([kind, f"{before:,.0f}", f"{after:,.0f}", f"{after / before:.2f}"])
        summary.add(f"lifecycle ingest {kind} after/before partitioning", after / before, ">=", 0.7)
    common.print_table(["path", "before events/s", "after events/s", "after/before"], rows)


# --- 2. Twelve months of events --------------------------------------------------------------


def data_months() -> list[datetime]:
    from lifecycle.months import month_of, months_from, start_of

    now = datetime.now(UTC)
    first = month_of(now)
    for _ in range(MONTHS - 1):
        first = month_of(start_of(first) - timedelta(days=1))
    return [start_of(m) for m in months_from(first, MONTHS)]


def load_year(org_id: int) -> float:
    from django.db import transaction

    from lifecycle import partitions
    from lifecycle.months import month_of

    months = data_months()
    with transaction.atomic():
        partitions.ensure_months(month_of(m) for m in months)
    start, end = months[0], datetime.now(UTC) - timedelta(minutes=5)
    span = (end - start).total_seconds()
    models = "ARRAY[" + ", ".join(f"'{m}'" for m, _ in common.MODELS) + "]"
    providers = "ARRAY[" + ", ".join(f"'{p}'" for _, p in common.MODELS) + "]"
    insert = f"""
        INSERT INTO ingestion_event (organization_id, event_id, "timestamp", received_at, model,
            provider, entity_type, entity_id, session_id, input_tokens, output_tokens,
            cached_input_tokens, cost_nanos, cost_source, latency_ms, status, tags)
        SELECT %(org)s, 'ev-' || g, ts, ts, ({models})[1 + g %% 4], ({providers})[1 + g %% 4],
               'customer', 'cust-' || (g / {CALLS_PER_SESSION}) %% 1000,
               's-' || g / {CALLS_PER_SESSION}, 100 + g %% 900, 20 + g %% 300, 0, 1500,
               'client', 300, 'success',
               jsonb_build_object('feature', 'f' || (g / {CALLS_PER_SESSION}) %% 5)
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g,
             LATERAL (SELECT %(start)s::timestamptz
                      + make_interval(secs => g::float8 * %(span)s / %(events)s) AS ts) AS t
    """
    keys = """
        INSERT INTO ingestion_eventkey (organization_id, event_id)
        SELECT %(org)s, 'ev-' || g FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
    """
    started = time.perf_counter()
    step = 500_000
    with common.connect() as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        for lo in range(0, EVENTS, step):
            params = {
                "org": org_id,
                "lo": lo,
                "hi": min(lo + step, EVENTS) - 1,
                "start": start,
                "span": span,
                "events": EVENTS,
            }
            with conn.transaction():
                cur.execute(insert, params)
                cur.execute(keys, params)
        cur.execute("ANALYZE ingestion_event")
        cur.execute("ANALYZE ingestion_eventkey")
    return time.perf_counter() - started


# --- 3. Partition pruning ----------------------------------------------------------------------


def explain_analytics(key: str) -> None:
    import re

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    months = data_months()
    first, last = months[-2].date(), (months[-1] - timedelta(days=1)).date()
    query = f"start_date={first}&end_date={last}"
    paths = [
        f"/v1/analytics/events?{query}",
        f"/v1/analytics/events?{query}&entity_type=customer&entity_id=cust-7",
        f"/v1/analytics/costs?{query}&group_by=day",
        f"/v1/analytics/costs?{query}&group_by=tag:feature",
        f"/v1/analytics/costs?{query}&group_by=model&tag=feature:f1",
        f"/v1/analytics/sessions?{query}",
        f"/v1/analytics/session-metrics?{query}",
    ]
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ingestion_event'::regclass"
        )
        row = cur.fetchone()
        total = row[0] if row else 0
    print(f"\n-- partition pruning: analytics for {first}..{last}, {total} partitions in all")
    rows = []
    for path in paths:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - started
        statements = [q["sql"] for q in captured.captured_queries if "ingestion_event" in q["sql"]]
        scanned: set[str] = set()
        for statement in statements:
            with connection.cursor() as cur:
                cur.execute("EXPLAIN (COSTS OFF) " + statement)
                plan = "\n".join(line for (line,) in cur.fetchall())
            scanned |= set(re.findall(r"ingestion_event_(y\d{4}m\d{2}|default)\b", plan))
        rows.append(
            [
                path.replace(query, "").replace("?&", "?").rstrip("?"),
                response.status_code,
                len(statements),
                f"{len(scanned)} of {total}" if statements else "(reads no events)",
                common.ms(elapsed),
            ]
        )
    common.print_table(["endpoint", "status", "event stmts", "partitions scanned", "ms"], rows)


# --- 4. Rollup throughput ----------------------------------------------------------------------


ROLLUP_ORGANIZATIONS = 4


def requeue_last_month(org_id: int, rollup_orgs: list[int]) -> int:
    """Make last month's and this month's events pending again, each session assigned to one
    of `rollup_orgs` (the way several customers' traffic shares one queue), aggregates empty."""
    from sessions.rollup import queue

    pending_columns, pending_values = common.pending_row_sql()
    assert pending_values.startswith("organization_id,")
    spread = (
        f"(ARRAY{rollup_orgs}::bigint[])[1 + abs(hashtext(coalesce(session_id, event_id))) "
        f"%% {len(rollup_orgs)}]"
    )
    values = spread + pending_values[len("organization_id") :]
    since = data_months()[-2]
    with common.connect() as conn, conn.cursor() as cur:
        tables = ["llm_sessions_session", queue.QUEUE_TABLE]
        row = cur.execute("SELECT to_regclass('costs_daily') IS NOT NULL").fetchone()
        if row and row[0]:
            tables.append("costs_daily")
        cur.execute(f"TRUNCATE {', '.join(tables)}")
        cur.execute(
            f"INSERT INTO {queue.QUEUE_TABLE} ({pending_columns}) "
            f"SELECT {values} FROM ingestion_event WHERE {queue.QUEUED_CONDITION} "
            'AND organization_id = %s AND "timestamp" >= %s ORDER BY id',
            [org_id, since],
        )
        count = cur.rowcount
        cur.execute(f"ANALYZE {queue.QUEUE_TABLE}")
    return count


def drain_worker() -> None:
    """Child process: one global drain (organization by organization), as one Celery worker
    process runs the sweep."""
    from sessions.services import session_rollup_drain

    started = time.time()
    events = session_rollup_drain().events
    print(events, started, time.time(), flush=True)


def rollup_throughput(org_id: int, summary: common.Summary) -> None:
    print(
        "\n-- rollup throughput: last month's and this month's events pending over "
        f"{ROLLUP_ORGANIZATIONS} organizations, drained by N processes"
    )
    rollup_orgs = [
        common.create_org_and_key(f"bench-rollup-{n}")[0] for n in range(ROLLUP_ORGANIZATIONS)
    ]
    rows, single = [], 0.0
    for workers in (1, 2, 4):
        pending = requeue_last_month(org_id, rollup_orgs)
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "--drain-worker"],
                env=common.service_env(),
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        # Each child times its own drain (after its Django start-up): the figure is the span
        # from the first drain's start to the last one's end.
        reports = [(child.communicate()[0] or "0 0 0").split()[-3:] for child in children]
        folded = sum(int(events) for events, _, _ in reports)
        elapsed = max(float(end) for _, _, end in reports) - min(
            float(start) for _, start, _ in reports
        )
        rate = folded / elapsed
        single = single or rate
        if folded != pending:
            summary.fail(f"rollup {workers} workers", f"folded {folded} of {pending}")
        rows.append([workers, pending, f"{elapsed:.1f}", f"{rate:,.0f}", f"{rate / single:.2f}"])
    common.print_table(["workers", "events", "seconds", "events/s", "vs 1 worker"], rows)
    with common.connect() as conn:
        conn.execute("TRUNCATE llm_sessions_session")  # the bench org's retention comes next


# --- 5. Retention ------------------------------------------------------------------------------


def retention_of_three_months(org_id: int, summary: common.Summary) -> None:
    from infraprism.models import Organization
    from ingestion.models import Event
    from lifecycle import retention

    months = data_months()
    other, _ = common.create_org_and_key("bench-keeps-all")
    with common.connect() as conn:
        # One event of another organization (which keeps everything) in the third month: that
        # partition cannot be dropped, the first organization's rows there go in chunks.
        conn.execute(
            'INSERT INTO ingestion_event (organization_id, event_id, "timestamp", received_at, '
            "model, provider, input_tokens, output_tokens, cached_input_tokens, cost_nanos, "
            "cost_source, status, tags) VALUES (%s, 'other-1', %s, now(), 'gpt-4o', '', 0, 0, "
            "0, 0, 'client', 'success', '{}')",
            [other, months[2] + timedelta(days=1)],
        )
    cutoff = months[3]
    days = int((datetime.now(UTC) - cutoff).total_seconds() // 86400)
    Organization.objects.filter(pk=org_id).update(retention_days=days)
    expired = Event.objects.filter(
        organization_id=org_id, timestamp__lt=datetime.now(UTC) - timedelta(days=days)
    ).count()
    print(f"\n-- retention: {days} days, {expired:,} events of the 3 oldest months expire")
    started = time.perf_counter()
    report = retention.run(batch_size=retention.BATCH_SIZE)
    elapsed = time.perf_counter() - started
    chunked = sum(
        n for (_, table), n in report.events.items() if table not in report.dropped_partitions
    )
    print(
        f"retention: {report.events_total:,} events in {elapsed:.1f}s "
        f"({report.events_total / elapsed:,.0f} events/s); partitions dropped: "
        f"{', '.join(report.dropped_partitions)}; chunked deletes: {chunked:,} events; "
        f"sessions: {sum(report.sessions.values()):,}"
    )
    if report.events_total != expired:
        summary.fail("retention", f"removed {report.events_total} of {expired}")
    summary.add("lifecycle retention of 3 months", elapsed, "<=", 600, ".1f", " s")


def main() -> int:
    if sys.argv[1:] == ["--drain-worker"]:
        common.setup_django()
        drain_worker()
        return 0
    common.reset_database()  # first: the banner reads the server's settings through it
    common.banner(f"lifecycle: {EVENTS:,} events over {MONTHS} months")
    reset_plain_database()
    common.setup_django()
    summary = common.Summary()
    org_id, key = common.create_org_and_key()
    ingest_side_by_side(org_id, summary)
    with common.connect() as conn:
        conn.execute("TRUNCATE ingestion_event, ingestion_eventkey, ingestion_pendingrollup")
    seconds = load_year(org_id)
    print(f"\n-- loaded {EVENTS:,} events in {seconds:.0f}s ({EVENTS / seconds:,.0f} events/s)")
    explain_analytics(key)
    rollup_throughput(org_id, summary)
    retention_of_three_months(org_id, summary)
    summary.print()
    return 1 if any("FAILED" in line for line in summary.lines) else 0


if __name__ == "__main__":
    sys.exit(main())
