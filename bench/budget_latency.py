"""Budget alerts under load: from the 202 of the event that crosses a threshold to the signed
webhook arriving at a receiver.

    .venv/bin/python bench/budget_latency.py [--rate N] [--seconds S] [--probes N]

gunicorn serves the API and a real Celery worker with embedded beat (as `make worker` runs it)
rolls up, evaluates budgets and delivers webhooks, against the bench database and Redis db 10.
A background client sends `--rate` events/s in batches of 20. `--probes` times during the run,
a probe event of USD 1 for a fresh entity `probe-N` crosses an `entity_type` budget (limit 1,
threshold 1); a receiver in this process timestamps each delivery. Latency = delivery received
- the probe's 202. Baseline, measured side by side on the same probes: the probe's call showing
in its session (the rollup's freshness), so the ratio says what evaluation and delivery add.
"""

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, load, servers

TARGET_P95_S = 10.0
BATCH = 20


class Deliveries:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, float] = {}  # probe entity -> first delivery received

    def handler(self) -> type[BaseHTTPRequestHandler]:
        deliveries = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                entity = json.loads(body)["data"]["scope"].get("entity_id", "")
                with deliveries.lock:
                    deliveries.at.setdefault(entity, received)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def background_event(n: int) -> dict[str, Any]:
    model, provider = common.MODELS[n % len(common.MODELS)]
    return {
        "event_id": f"bg-{n}",
        "timestamp": now_iso(),
        "model": model,
        "provider": provider,
        "entity_type": "customer",
        "entity_id": f"cust-{n % 500}",
        "session_id": f"bg-session-{n % 200}",
        "input_tokens": 500 + n % 1000,
        "output_tokens": 100 + n % 300,
        "tags": {"feature": common.FEATURES[n % 5]},
    }


def probe_event(n: int) -> dict[str, Any]:
    return {
        "event_id": f"probe-{n}",
        "timestamp": now_iso(),
        "model": "gpt-4o",
        "entity_type": "probe",
        "entity_id": f"probe-{n}",
        "session_id": f"probe-session-{n}",
        "cost": 1,
    }


def session_visible(conn: Any, org_id: int, session: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM llm_sessions_session WHERE organization_id = %s AND session_id = %s",
        (org_id, session),
    ).fetchone()
    return row is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="background events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--probes", type=int, default=40)
    args = parser.parse_args()

    common.reset_database()
    common.setup_django()
    common.banner("budget alerts: crossing event's 202 -> webhook received, worker + beat")
    from budgets.services import budget_create, endpoint_create
    from infraprism.models import Organization

    org_id, key = common.create_org_and_key()
    org = Organization.objects.get(pk=org_id)
    budget_create(
        organization=org,
        name="probes",
        scope="entity_type",
        entity_type="probe",
        period="day",
        limit=1,
        thresholds=[1],
    )
    deliveries = Deliveries()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), deliveries.handler())
    receiver.daemon_threads = True
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint_create(organization=org, url=f"http://127.0.0.1:{receiver.server_address[1]}/hook")

    acked: dict[str, float] = {}
    visible: dict[str, float] = {}
    failures: list[str] = []
    with servers.gunicorn() as server, servers.celery_worker():
        client = load.Client(server.port, key)
        probe_client = load.Client(server.port, key)
        warm = probe_event(-1)
        status, body = client.request("POST", "/v1/events", orjson.dumps(warm))
        assert status == 202, (status, body)
        started = time.perf_counter()
        while "probe--1" not in deliveries.at:
            if time.perf_counter() - started > 120:
                raise SystemExit("no delivery for the warm-up probe within 120 s")
            time.sleep(0.05)
        print(
            f"worker ready: warm-up delivered {deliveries.at['probe--1'] - started:.1f}s after its 202"
        )

        stop = threading.Event()

        def watch_sessions() -> None:
            with common.connect() as conn:
                while not stop.is_set():
                    for entity, _ in list(acked.items()):
                        if entity not in visible:
                            session = entity.replace("probe-", "probe-session-")
                            if session_visible(conn, org_id, session):
                                visible[entity] = time.perf_counter()
                    time.sleep(0.025)

        def probes() -> None:
            spacing = args.seconds / args.probes
            for n in range(args.probes):
                time.sleep(spacing)
                status, body = probe_client.request(
                    "POST", "/v1/events", orjson.dumps(probe_event(n))
                )
                if status != 202:
                    failures.append(f"probe HTTP {status}: {body[:200]!r}")
                    continue
                acked[f"probe-{n}"] = time.perf_counter()

        watcher = threading.Thread(target=watch_sessions, daemon=True)
        prober = threading.Thread(target=probes)
        watcher.start()
        prober.start()
        interval = BATCH / args.rate
        begin = time.perf_counter()
        sent = 0
        for index in range(int(args.seconds / interval)):
            if (delay := begin + index * interval - time.perf_counter()) > 0:
                time.sleep(delay)
            items = [background_event(sent + i) for i in range(BATCH)]
            sent += BATCH
            status, body = client.request(
                "POST", "/v1/events/batch", orjson.dumps({"events": items})
            )
            if status != 202:
                failures.append(f"HTTP {status}: {body[:200]!r}")
        wall = time.perf_counter() - begin
        prober.join()
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and any(e not in deliveries.at for e in acked):
            time.sleep(0.1)
        stop.set()
        watcher.join()
        client.close()
        probe_client.close()
    receiver.shutdown()

    latencies = [deliveries.at[e] - t for e, t in acked.items() if e in deliveries.at]
    freshness = [visible[e] - t for e, t in acked.items() if e in visible]
    lost = len(acked) - len(latencies)
    p50, p95 = common.percentile(latencies, 50), common.percentile(latencies, 95)
    f50, f95 = common.percentile(freshness, 50), common.percentile(freshness, 95)
    print()
    common.print_table(
        [
            "probes",
            "delivered",
            "background",
            "p50 s",
            "p95 s",
            "max s",
            "rollup p50 s",
            "rollup p95 s",
        ],
        [
            [
                len(acked),
                len(latencies),
                f"{sent / wall:,.0f} events/s",
                f"{p50:.3f}",
                f"{p95:.3f}",
                f"{max(latencies, default=float('nan')):.3f}",
                f"{f50:.3f}",
                f"{f95:.3f}",
            ]
        ],
    )
    print(
        f"ratio to the rollup's freshness on the same probes: p50 x{p50 / f50:.2f}, "
        f"p95 x{p95 / f95:.2f}"
        if f50 and f95
        else "rollup freshness not measured"
    )
    for failure in failures[:5]:
        print("  problem:", failure)
    summary = common.Summary()
    summary.add("budget_alert_p50_s", p50, "<=", TARGET_P95_S, fmt=".3f")
    worst = common.percentile(latencies + [float("inf")] * lost, 95)
    summary.add("budget_alert_p95_s", worst, "<=", TARGET_P95_S, fmt=".3f")
    summary.print()
    return 1 if failures or lost else 0


if __name__ == "__main__":
    sys.exit(main())
