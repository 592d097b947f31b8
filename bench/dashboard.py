"""Dashboard pages' server time at the benchmark's data size (issue 17, item 5: 300 ms p95).

    .venv/bin/python bench/dashboard.py [--events N] [--sessions N] [--requests N] [--reuse-data]

The data is bench/query.py's (1M events, 100k sessions, 1,000 customers over 30 days,
generated in SQL and rolled up by the product; `--reuse-data` keeps a database that already
holds it). Each page gets up to `--requests` sequential GETs (at least 20, within
`--max-seconds`) from a signed-in owner through gunicorn, on one keep-alive connection, so
the time is the server's plus a loopback round trip. The query count of each page is
captured once in this process.
"""

import argparse
import random
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, load, query, servers

TARGET_MS = 300.0
SLUG = query.SLUG


def pages(sessions: int, entities: int) -> list[tuple[str, Callable[[random.Random], str]]]:
    start = common.data_start().date()
    month = {"start_date": start.isoformat(), "end_date": (start + timedelta(days=29)).isoformat()}
    base = f"/o/{SLUG}"

    def at(path: str, **params: str) -> Callable[[random.Random], str]:
        return lambda rng: f"{base}/{path}" + (f"?{urlencode(params)}" if params else "")

    def customer_since(rng: random.Random) -> str:
        since = start + timedelta(days=rng.randrange(14, 21))
        params = {
            "entity_type": "customer",
            "entity_id": f"cust-{rng.randrange(entities):05d}",
            "start_date": since.isoformat(),
        }
        return f"{base}/sessions/?{urlencode(params)}"

    def detail(rng: random.Random) -> str:
        return f"{base}/sessions/" + quote(f"s-{rng.randrange(sessions)}", safe="") + "/"

    edges = {"p95_cost": "0.01450882", "p95_turns": "10.0"}
    return [
        ("sessions (newest)", at("sessions/")),
        ("sessions: customer + start_date", customer_since),
        ("sessions: tag feature:chat", at("sessions/", tag="feature:chat")),
        ("session detail", detail),
        ("metrics, 30 days", at("metrics/", **month)),
        ("metrics histograms", at("metrics/histograms/", **month, **edges)),
        ("costs by entity, 30 days", at("costs/", group_by="entity", **month)),
        ("costs by model, 30 days", at("costs/", group_by="model", **month)),
        ("costs by day, 30 days", at("costs/", group_by="day", **month)),
        ("costs by provider, 30 days", at("costs/", group_by="provider", **month)),
        ("costs by tag feature, 30 days", at("costs/", group_by="tag", tag_key="feature", **month)),
        ("API keys", at("keys/")),
        ("budgets", at("budgets/")),
    ]


def query_count(cookie: str, url: str) -> int:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return len(ctx.captured_queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=60, help="GETs per page")
    parser.add_argument("--max-seconds", type=float, default=25.0, help="time budget per page")
    parser.add_argument("--reuse-data", action="store_true")
    args = parser.parse_args()

    if args.reuse_data and query.reusable(args.events):
        _, key, cookie = query.reuse()
    else:
        _, key, cookie = query.build(args)
    print("== dashboard: page server time ==", flush=True)

    rng = random.Random(5)
    rows = []
    summary = common.Summary()
    failures: list[str] = []
    with servers.gunicorn() as server:
        client = load.Client(server.port, key)
        client.headers = {"Cookie": f"sessionid={cookie}"}
        for name, url_of in pages(args.sessions, args.entities):
            urls = [url_of(rng) for _ in range(args.requests)]
            latencies = load.timed_gets(
                client, urls, warm_up=3, max_seconds=args.max_seconds, failures=failures
            )
            p95 = common.percentile(latencies, 95) * 1000
            rows.append(
                [
                    name,
                    len(latencies),
                    common.ms(common.percentile(latencies, 50)),
                    f"{p95:.1f}",
                    query_count(cookie, urls[0]),
                    "ok" if p95 <= TARGET_MS else "MISS",
                ]
            )
            figure = "_".join(re.findall(r"[a-z0-9]+", name.lower()))
            summary.add(f"page_{figure}_p95_ms", p95, "<=", TARGET_MS, fmt=".1f")
            print(f"  {name}: done", flush=True)
        client.close()

    print()
    common.print_table(["page", "requests", "p50 ms", "p95 ms", "queries", "<= 300 ms"], rows)
    for failure in failures:
        print("  problem:", failure)
    summary.print()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
