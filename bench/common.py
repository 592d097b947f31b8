"""Shared pieces of the benchmarks: the bench database and Redis db, Django set-up,
percentiles, tables and the summary lines, and the SQL generator of a large synthetic data set.
The processes under test are in servers.py, the HTTP load generator in load.py.

Nothing here touches the database or Redis that tests use: the bench database is
`infraprism_bench` on the server of DATABASE_URL (or BENCH_DATABASE_URL), Redis db 10 on the
server of REDIS_URL (or BENCH_REDIS_URL). Both are wiped at the start of every script.
"""

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH_DB_NAME = "infraprism_bench"
BENCH_REDIS_DB = 10
SETTINGS_MODULE = "bench.bench_settings"


# --- Where the benchmark runs --------------------------------------------------------------


def database_url() -> str:
    """The bench database: BENCH_DATABASE_URL, else DATABASE_URL's server with our db name."""
    if explicit := os.environ.get("BENCH_DATABASE_URL"):
        return explicit
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/infraprism"
    parts = urlsplit(base)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"the benchmarks need PostgreSQL; DATABASE_URL is {parts.scheme}://")
    return urlunsplit(parts._replace(path=f"/{BENCH_DB_NAME}"))


def redis_url() -> str:
    if explicit := os.environ.get("BENCH_REDIS_URL"):
        return explicit
    base = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    return urlunsplit(urlsplit(base)._replace(path=f"/{BENCH_REDIS_DB}"))


def libpq_url(url: str) -> str:
    """psycopg wants postgresql:// (django-environ also accepts postgres://)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def service_env(**extra: str) -> dict[str, str]:
    """Environment of every process under test (server, worker, migrate)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url(),
        INGEST_RATE_LIMIT="off",
        READ_RATE_LIMIT="off",
        DJANGO_DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def setup_django() -> None:
    """Configure this process like the server under test (bench settings, bench database)."""
    for key, value in service_env().items():
        if key != "PYTHONPATH":
            os.environ[key] = value
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import logging

    import django

    django.setup()
    # This process is the load generator and the SQL replayer: keep the product's per-request
    # and per-rollup INFO lines out of the benchmark's output (the server logs to its own file).
    logging.disable(logging.INFO)


def reset_database() -> None:
    """Drop and recreate the bench database, migrate it, and empty the bench Redis db."""
    url = urlsplit(libpq_url(database_url()))
    name = url.path.lstrip("/")
    admin = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=service_env(),
        check=True,
    )
    redis.Redis.from_url(redis_url()).flushdb()


def connect(autocommit: bool = True, options: str = "") -> psycopg.Connection[Any]:
    if options:
        return psycopg.connect(libpq_url(database_url()), autocommit=autocommit, options=options)
    return psycopg.connect(libpq_url(database_url()), autocommit=autocommit)


def create_org_and_key(slug: str = "bench") -> tuple[int, str]:
    """An organization and an ingest+read key, made by the product's own services."""
    from infraprism.services import api_key_create, organization_create

    org = organization_create(slug=slug, name=slug.title())
    _, key = api_key_create(organization=org, name="bench", scopes=["ingest", "read"])
    return org.pk, key


def truncate_events() -> None:
    with connect() as conn:
        conn.execute(
            "TRUNCATE ingestion_event, ingestion_eventkey, ingestion_pendingrollup, "
            "llm_sessions_session RESTART IDENTITY"
        )


def checkpoint() -> None:
    """Write out dirty buffers now, so a checkpoint does not land inside one timed phase."""
    with connect() as conn:
        conn.execute("CHECKPOINT")


def machine_line() -> str:
    with connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg = row[0] if row else "?"
    info: Any = redis.Redis.from_url(redis_url()).info("server")
    return (
        f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, PostgreSQL {pg.split()[0]}, "
        f"Redis {info.get('redis_version', '?')}; "
        f"load average {os.getloadavg()[0]:.1f} (other work on the machine shares the cores)"
    )


# --- Numbers and output --------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ),
            flush=True,
        )
        if index == 0:
            print("  ".join("-" * w for w in widths), flush=True)


class Summary:
    """The lines a script ends with: `figure: value target: >=X ok|short`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @staticmethod
    def line(
        figure: str,
        value: float,
        op: str,
        target: float,
        fmt: str = ".2f",
        unit: str = "",
        target_fmt: str | None = None,
    ) -> str:
        ok = value >= target if op == ">=" else value <= target
        shown_target = f"{target:{target_fmt or ('g' if ',' not in fmt else fmt)}}"
        return (
            f"{figure}: {value:{fmt}}{unit} target: {op}{shown_target}{unit} "
            f"{'ok' if ok else 'short'}"
        )

    def add(
        self,
        figure: str,
        value: float,
        op: str,
        target: float,
        fmt: str = ".2f",
        unit: str = "",
        target_fmt: str | None = None,
    ) -> None:
        self.lines.append(self.line(figure, value, op, target, fmt, unit, target_fmt))

    def fail(self, figure: str, reason: str) -> None:
        self.lines.append(f"{figure}: FAILED ({reason})")

    def print(self) -> None:
        print()
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        for line in self.lines:
            print(line, flush=True)


def banner(title: str) -> None:
    print(f"== {title} ==", flush=True)
    print(machine_line(), flush=True)
    database = urlsplit(database_url()).path.lstrip("/")
    redis_db = urlsplit(redis_url()).path.lstrip("/") or "0"
    print(f"database: {database}, redis db {redis_db}", flush=True)


# --- Synthetic data, generated in SQL ------------------------------------------------------

MODELS = (
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("claude-3-5-sonnet-20241022", "anthropic"),
    ("gemini-1.5-pro", "google"),
)
FEATURES = ("chat", "search", "summarize", "agent", "extract")
DATA_DAYS = 30


def pending_row_sql() -> tuple[str, str]:
    """The product's definition of a pending-rollup row: its columns, and the expressions that
    fill them from an ingestion_event row (so the bench writes exactly what ingestion writes)."""
    from ingestion import event_store

    return event_store._PENDING_COLUMNS, event_store._PENDING_VALUES


def data_start() -> datetime:
    """First day of the synthetic data: DATA_DAYS days ending yesterday (UTC midnight)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=DATA_DAYS)


def generate_events(
    conn: psycopg.Connection[Any],
    *,
    organization_id: int,
    events: int,
    sessions: int,
    entities: int,
    cost_nanos_sql: str = "1500",
    sessions_per_statement: int = 20_000,
) -> float:
    """Insert `events` events over `sessions` sessions and `entities` customers straight into
    ingestion_event, each with its pending-rollup row, as ingestion would leave them: in arrival
    (timestamp) order, so event ids and the pending queue follow time.

    Session s starts at s/sessions of the way through the DATA_DAYS-day window (sessions are
    spread evenly over time, a dozen or so overlapping at any moment), belongs to customer
    s % entities and makes one call every ~30 s: events/sessions calls in all. Call k of
    session s is event number k * sessions + s. Tags: `feature` (5 values) and `env` per
    session, `variant` per call. Returns the seconds taken.
    """
    started = time.perf_counter()
    pending_columns, pending_values = pending_row_sql()
    models = "ARRAY[" + ", ".join(f"'{m}'" for m, _ in MODELS) + "]"
    providers = "ARRAY[" + ", ".join(f"'{p}'" for _, p in MODELS) + "]"
    features = "ARRAY[" + ", ".join(f"'{f}'" for f in FEATURES) + "]"
    cost_sql = cost_nanos_sql.replace("%", "%%")  # a literal % in a psycopg query
    per_session = -(-events // sessions)
    window = DATA_DAYS * 86400 - per_session * 30 - 60
    insert = f"""
        WITH inserted AS (
            INSERT INTO ingestion_event (
                organization_id, event_id, "timestamp", received_at, model, provider,
                entity_type, entity_id, session_id, input_tokens, output_tokens,
                cached_input_tokens, cost_nanos, cost_source, latency_ms, status, tags)
            SELECT %(org)s, 'ev-' || g, ts, ts, ({models})[1 + (s + k) %% 4],
                   ({providers})[1 + (s + k) %% 4], 'customer',
                   'cust-' || lpad((s %% %(entities)s)::text, 5, '0'), 's-' || s,
                   100 + g %% 1000, 20 + g %% 300, g %% 50, {cost_sql}, 'client',
                   200 + g %% 3000, CASE WHEN g %% 50 = 0 THEN 'error' ELSE 'success' END,
                   jsonb_build_object(
                       'feature', ({features})[1 + s %% 5],
                       'env', CASE WHEN s %% 10 = 0 THEN 'staging' ELSE 'prod' END,
                       'variant', CASE WHEN g %% 2 = 0 THEN 'a' ELSE 'b' END)
            FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS s,
                 generate_series(0::bigint, {per_session - 1}) AS k,
                 LATERAL (SELECT k * %(sessions)s + s AS g) AS ids,
                 LATERAL (SELECT %(start)s::timestamptz + make_interval(
                     secs => s::float8 * {window} / %(sessions)s + k * 30 + (g * 13) %% 17
                 ) AS ts) AS t
            WHERE k * %(sessions)s + s < %(events)s
            ORDER BY ts, g
            RETURNING *
        )
        INSERT INTO ingestion_pendingrollup ({pending_columns})
        SELECT {pending_values} FROM inserted WHERE session_id IS NOT NULL ORDER BY id
    """
    start = data_start()
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        for lo in range(0, sessions, sessions_per_statement):
            hi = min(lo + sessions_per_statement, sessions) - 1
            with conn.transaction():
                cur.execute(
                    insert,
                    {
                        "org": organization_id,
                        "lo": lo,
                        "hi": hi,
                        "sessions": sessions,
                        "entities": entities,
                        "events": events,
                        "start": start,
                    },
                )
        cur.execute("ANALYZE ingestion_event")
        cur.execute("ANALYZE ingestion_pendingrollup")
    return time.perf_counter() - started


def requeue_pending(conn: psycopg.Connection[Any]) -> None:
    """Forget the aggregates and make every event pending again, in arrival order."""
    pending_columns, pending_values = pending_row_sql()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE llm_sessions_session, ingestion_pendingrollup RESTART IDENTITY")
        cur.execute(
            f"INSERT INTO ingestion_pendingrollup ({pending_columns}) "
            f"SELECT {pending_values} FROM ingestion_event WHERE session_id IS NOT NULL "
            "ORDER BY id"
        )
        cur.execute("ANALYZE ingestion_pendingrollup")
        cur.execute("VACUUM ANALYZE llm_sessions_session")
