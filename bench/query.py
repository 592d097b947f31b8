"""Analytics API latency over 1M events, 100k sessions and 1,000 customers, beside the same SQL
run by hand.

    .venv/bin/python bench/query.py [--events N] [--sessions N] [--requests N]

The events are generated in SQL and rolled up by the product's own rollup (set-up, not timed).
Each endpoint gets `--requests` sequential requests on one keep-alive connection through
gunicorn. Then the SQL each endpoint runs is captured once per sample URL (in this process,
with CaptureQueriesContext) and replayed with psycopg alone, so `HTTP p50 / SQL p50` shows what
the framework adds (the replay uses the server's connection options).
"""

import argparse
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import common, load, servers

SLUG = "bench"


@dataclass
class Endpoint:
    figure: str
    name: str
    target_ms: float
    url: Callable[[random.Random], str]
    page: bool = False  # a dashboard page, fetched with a signed-in member's session cookie


def endpoints(sessions: int, entities: int) -> list[Endpoint]:
    start = common.data_start().date()
    end = start + timedelta(days=common.DATA_DAYS - 1)

    def seed(rng: random.Random) -> str:
        # The guide's query: one customer's sessions since a date (here: the last ~2 weeks).
        since = start + timedelta(days=rng.randrange(14, 21))
        params = {
            "entity_type": "customer",
            "entity_id": f"cust-{rng.randrange(entities):05d}",
            "start_date": since.isoformat(),
        }
        return "/v1/analytics/sessions?" + urlencode(params)

    def tagged(rng: random.Random) -> str:
        return "/v1/analytics/sessions?" + urlencode(
            {"tag": f"feature:{rng.choice(common.FEATURES)}"}
        )

    def detail(rng: random.Random) -> str:
        return "/v1/analytics/sessions/" + quote(f"s-{rng.randrange(sessions)}", safe="")

    month = {"start_date": start.isoformat(), "end_date": end.isoformat()}

    def metrics(rng: random.Random) -> str:
        return "/v1/analytics/session-metrics?" + urlencode(month)

    def costs(group_by: str) -> Callable[[random.Random], str]:
        return lambda rng: "/v1/analytics/costs?" + urlencode({"group_by": group_by, **month})

    # The dashboard's pages (issue 12: list, details and metrics within 300 ms p95).
    def page_landing(rng: random.Random) -> str:
        return f"/o/{SLUG}/sessions/"

    def page_seed(rng: random.Random) -> str:
        return f"/o/{SLUG}/sessions/?" + seed(rng).split("?", 1)[1]

    def page_detail(rng: random.Random) -> str:
        return f"/o/{SLUG}/sessions/" + quote(f"s-{rng.randrange(sessions)}", safe="") + "/"

    def page_metrics(rng: random.Random) -> str:
        return f"/o/{SLUG}/metrics/?" + urlencode(month)

    def page_histograms(rng: random.Random) -> str:
        # The fragment the metrics page loads next, with the page's own p95 edges (bench data).
        edges = {"p95_cost": "0.01450882", "p95_turns": "10.0"}
        return f"/o/{SLUG}/metrics/histograms/?" + urlencode({**month, **edges})

    return [
        Endpoint("query_seed_sessions_p95_ms", "sessions: customer + start_date", 25, seed),
        Endpoint("query_tag_sessions_p95_ms", "sessions: tag=feature:X", 25, tagged),
        Endpoint("query_session_detail_p95_ms", "session detail (10 calls)", 25, detail),
        Endpoint("query_session_metrics_p95_ms", "session-metrics, 30 days", 150, metrics),
        # Cost reports (issue 17: 150 ms p95 each), answered from the daily cost table.
        Endpoint(
            "query_costs_entity_p95_ms", "costs group_by=entity, 30 days", 150, costs("entity")
        ),
        Endpoint(
            "query_costs_entity_type_p95_ms",
            "costs group_by=entity_type, 30 days",
            150,
            costs("entity_type"),
        ),
        Endpoint("query_costs_model_p95_ms", "costs group_by=model, 30 days", 150, costs("model")),
        Endpoint(
            "query_costs_provider_p95_ms",
            "costs group_by=provider, 30 days",
            150,
            costs("provider"),
        ),
        Endpoint("query_costs_day_p95_ms", "costs group_by=day, 30 days", 150, costs("day")),
        Endpoint("page_sessions_p95_ms", "page: sessions (newest)", 300, page_landing, True),
        Endpoint("page_sessions_seed_p95_ms", "page: sessions customer+date", 300, page_seed, True),
        Endpoint("page_session_detail_p95_ms", "page: session details", 300, page_detail, True),
        Endpoint("page_metrics_p95_ms", "page: metrics, 30 days", 300, page_metrics, True),
        Endpoint("page_histograms_p95_ms", "page: metrics histograms", 300, page_histograms, True),
    ]


def member_cookie(email: str = "bench@example.com") -> str:
    """A signed-in owner's session cookie value, made by the product's own services."""
    from django.conf import settings
    from django.test import Client

    from dashboard.services import member_add
    from infraprism.models import Organization

    added = member_add(organization=Organization.objects.get(slug=SLUG), email=email, role="owner")
    client = Client()
    client.force_login(added.membership.user)
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def capture_sql(key: str, urls: list[str], cookie: str | None = None) -> list[list[str]]:
    """The SELECTs each URL runs (auth lookup included), captured in this process."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")
    if cookie:
        client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    captured = []
    for url in urls:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        captured.append(
            [
                q["sql"]
                for q in ctx.captured_queries
                if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
            ]
        )
    return captured


def time_sql(statements: list[list[str]], reps: int) -> list[float]:
    """Seconds per request-worth of SQL, cycling through the captured sample URLs, on a psycopg
    connection with the server's session options (e.g. `-c jit=off`)."""
    from django.conf import settings

    options = settings.DATABASES["default"].get("OPTIONS", {}).get("options", "")
    timings = []
    with common.connect(options=options) as conn, conn.cursor() as cur:
        for rep in range(reps):
            started = time.perf_counter()
            for statement in statements[rep % len(statements)]:
                cur.execute(statement.encode())
                cur.fetchall()
            timings.append(time.perf_counter() - started)
    return timings


def metrics_sql_variants(org_id: int) -> dict[str, list[str]]:
    """The metrics page's SQL written by hand: as the product ran it before (four statements
    for the numbers and series, forty FILTER counts for the histograms) and now (two
    statements; width_bucket histograms). Same 30-day range as the endpoints above."""
    start = common.data_start().date()
    end = start + timedelta(days=common.DATA_DAYS)
    where = (
        f"organization_id = {org_id} AND last_seen >= '{start.isoformat()}T00:00:00+00' "
        f"AND first_seen < '{end.isoformat()}T00:00:00+00'"
    )
    table = "llm_sessions_session"
    fractions = "ARRAY[0.499995, 0.500005, 0.949995, 0.950005]::float8[]"
    day = "(first_seen AT TIME ZONE 'UTC')::date"
    cost_edges = [i * 1_000_000 for i in range(16)]
    filters = (
        ", ".join(
            f"count(*) FILTER (WHERE total_cost_nanos >= {low} AND total_cost_nanos < {low + 1_000_000})"
            for low in cost_edges[:-1]
        )
        + ", "
        + ", ".join(
            f"count(*) FILTER (WHERE turn_count >= {low} AND turn_count < {low + 1})"
            for low in range(11)
        )
    )
    cost_array = "'{" + ",".join(map(str, cost_edges)) + "}'::numeric[]"
    turn_array = "'{" + ",".join(map(str, range(12))) + "}'::bigint[]"
    return {
        "before: totals, 2 percentile sorts, series (4 statements)": [
            f"SELECT count(id), sum(total_cost_nanos), avg(turn_count), max(total_cost_nanos) "
            f"FROM {table} WHERE {where}",
            f"SELECT percentile_disc({fractions}) WITHIN GROUP (ORDER BY total_cost_nanos) "
            f"FROM {table} WHERE {where}",
            f"SELECT percentile_disc({fractions}) WITHIN GROUP (ORDER BY turn_count) "
            f"FROM {table} WHERE {where}",
            f"SELECT {day}, count(id), sum(total_cost_nanos), avg(turn_count) FROM {table} "
            f"WHERE {where} GROUP BY 1 ORDER BY 1",
        ],
        "now: series+totals scan, both percentiles (2 statements)": [
            f"SELECT {day}, count(id), sum(total_cost_nanos), sum(turn_count), "
            f"max(total_cost_nanos) FROM {table} WHERE {where} GROUP BY 1 ORDER BY 1",
            f"SELECT percentile_disc({fractions}) WITHIN GROUP (ORDER BY total_cost_nanos), "
            f"percentile_disc({fractions}) WITHIN GROUP (ORDER BY turn_count) "
            f"FROM {table} WHERE {where}",
        ],
        "histograms before: 37 FILTER counts": [f"SELECT {filters} FROM {table} WHERE {where}"],
        "histograms now: width_bucket, one hash aggregate": [
            f"SELECT width_bucket(total_cost_nanos, {cost_array}), "
            f"width_bucket(turn_count, {turn_array}), count(*) FROM {table} WHERE {where} "
            "GROUP BY 1, 2"
        ],
    }


PLAIN_FIRST_INDEX = (
    "CREATE INDEX session_org_first ON llm_sessions_session (organization_id, first_seen, id)"
)


def compare_metrics_sql(org_id: int, reps: int) -> list[list[Any]]:
    """Each variant `reps` times, interleaved, with the covering index (now) and, inside a
    rolled-back transaction, with the plain session_org_first of before."""
    from django.conf import settings

    options = settings.DATABASES["default"].get("OPTIONS", {}).get("options", "")
    variants = metrics_sql_variants(org_id)
    rows = []
    with common.connect(autocommit=False, options=options) as conn, conn.cursor() as cur:
        for index_name, swap in (("covering", False), ("plain (before)", True)):
            if swap:
                cur.execute("DROP INDEX session_org_first")
                cur.execute(PLAIN_FIRST_INDEX)
                cur.execute("ANALYZE llm_sessions_session")
            timings: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(reps):
                for name, statements in variants.items():
                    started = time.perf_counter()
                    for statement in statements:
                        cur.execute(statement.encode())
                        cur.fetchall()
                    timings[name].append(time.perf_counter() - started)
            for name, seconds in timings.items():
                rows.append(
                    [
                        name,
                        index_name,
                        len(variants[name]),
                        common.ms(common.percentile(seconds, 50)),
                        common.ms(common.percentile(seconds, 95)),
                    ]
                )
            conn.rollback()
    return rows


def reusable(events: int) -> bool:
    """Whether the bench database already holds the rolled-up data of a previous run."""
    try:
        with common.connect() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM ingestion_event),"
                " (SELECT count(*) FROM ingestion_pendingrollup)"
            ).fetchone()
    except psycopg.Error:  # no database or no tables yet
        return False
    return row is not None and row[0] == events and row[1] == 0


def reuse() -> tuple[int, str, str]:
    """Migrate the existing bench database and sign in again (a new key and member)."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=common.REPO,
        env=common.service_env(),
        check=True,
    )
    common.setup_django()
    common.banner("query: Analytics API latency")
    from infraprism.models import Organization
    from infraprism.services import api_key_create

    org = Organization.objects.get(slug=SLUG)
    _, key = api_key_create(organization=org, name="bench", scopes=["ingest", "read"])
    with common.connect() as conn:
        conn.execute("ANALYZE")
    print("data: reused from a previous run (--reuse-data)", flush=True)
    return org.pk, key, member_cookie(email=f"bench-{time.time_ns()}@example.com")


def build(args: argparse.Namespace) -> tuple[int, str, str]:
    """A fresh bench database: generated events, rolled up by the product's rollup."""
    common.reset_database()
    common.setup_django()
    common.banner("query: Analytics API latency")
    org_id, key = common.create_org_and_key(SLUG)
    cookie = member_cookie()
    with common.connect(autocommit=False) as conn:
        load_s = common.generate_events(
            conn,
            organization_id=org_id,
            events=args.events,
            sessions=args.sessions,
            entities=args.entities,
            cost_nanos_sql="1000 + (g * 7919) % 2000000",
        )
    from sessions.services import session_rollup_drain

    started = time.perf_counter()
    stats = session_rollup_drain(organization_id=org_id)
    rollup_s = time.perf_counter() - started
    with common.connect() as conn:
        conn.execute("VACUUM ANALYZE")
    print(
        f"data: {args.events:,} events, {stats.sessions and args.sessions:,} sessions, "
        f"{args.entities:,} customers over {common.DATA_DAYS} days "
        f"(generated in {load_s:.0f}s, rolled up in {rollup_s:.0f}s)",
        flush=True,
    )
    return org_id, key, cookie


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per endpoint")
    parser.add_argument(
        "--max-seconds", type=float, default=40.0, help="HTTP time budget per endpoint"
    )
    parser.add_argument("--sql-seconds", type=float, default=8.0, help="replay budget per run")
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="keep the bench database if it already holds --events events (migrations still run)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated substrings of endpoint names to run"
    )
    parser.add_argument(
        "--compare-reps",
        type=int,
        default=30,
        help="runs of the metrics SQL before/after comparison (0: skip it)",
    )
    args = parser.parse_args()

    if args.reuse_data and reusable(args.events):
        org_id, key, cookie = reuse()
    else:
        org_id, key, cookie = build(args)

    rng = random.Random(11)
    rows: list[list[Any]] = []
    summary = common.Summary()
    failures: list[str] = []
    plan = endpoints(args.sessions, args.entities)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        plan = [e for e in plan if any(w in e.name for w in wanted)]
    with servers.gunicorn() as server:
        api_client = load.Client(server.port, key)
        page_client = load.Client(server.port, key)
        page_client.headers = {"Cookie": f"sessionid={cookie}"}
        for endpoint in plan:
            client = page_client if endpoint.page else api_client
            urls = [endpoint.url(rng) for _ in range(args.requests)]
            latencies = load.timed_gets(
                client, urls, warm_up=5, max_seconds=args.max_seconds, failures=failures
            )
            statements = capture_sql(key, urls[:10], cookie if endpoint.page else None)
            first = time_sql(statements, 1)[0]
            reps = max(10, min(args.requests, int(args.sql_seconds / max(first, 1e-4))))
            sql = time_sql(statements, reps)
            http_p50 = common.percentile(latencies, 50)
            http_p95 = common.percentile(latencies, 95)
            sql_p50 = common.percentile(sql, 50)
            rows.append(
                [
                    endpoint.name,
                    len(latencies),
                    common.ms(http_p50),
                    common.ms(http_p95),
                    f"<={endpoint.target_ms:g}",
                    len(statements[0]),
                    common.ms(sql_p50),
                    common.ms(common.percentile(sql, 95)),
                    f"{http_p50 / sql_p50:.1f}x",
                ]
            )
            print(f"  {endpoint.name}: done", flush=True)
            summary.add(endpoint.figure, http_p95 * 1000, "<=", endpoint.target_ms, fmt=".1f")
        api_client.close()
        page_client.close()

    print()
    common.print_table(
        [
            "endpoint",
            "requests",
            "HTTP p50",
            "HTTP p95",
            "target",
            "queries",
            "SQL p50",
            "SQL p95",
            "HTTP/SQL",
        ],
        rows,
    )
    print("(ms; sequential requests on one keep-alive connection, up to")
    print(f" {args.requests} per endpoint or {args.max_seconds:g}s;")
    print(" SQL = the captured statements of the request, auth lookup included, run by psycopg)")
    for failure in failures:
        print("  problem:", failure)
    if args.compare_reps:
        print()
        print(f"metrics page SQL by hand, before vs now ({args.compare_reps} interleaved runs):")
        common.print_table(
            ["statements", "session_org_first", "queries", "p50", "p95"],
            compare_metrics_sql(org_id, args.compare_reps),
        )
    summary.print()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
