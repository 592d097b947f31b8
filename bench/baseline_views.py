"""The single-event baselines of issue 17, served by their own gunicorn (same config as the
product: 2 workers x 4 threads) with bench/baseline_settings.py, which has no middleware.

- `POST /baseline/bare`: a bare Django view; reads nothing, answers 202.
- `POST /baseline/insert`: the same view parsing the JSON body and running one
  `INSERT ... ON CONFLICT DO NOTHING` (the event and its pending-rollup row, as the product
  stores them) + `COMMIT` through psycopg, on one connection per server thread. On the
  partitioned events table (no unique index across partitions; the product claims its
  idempotency key in ingestion_eventkey first) the ON CONFLICT clause has nothing to check.

No authentication, validation or pricing: this is the floor the product's POST /v1/events is
measured against, not a second implementation of it. The organization comes from
BASELINE_ORGANIZATION_ID.
"""

import os
import threading
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.common import libpq_url
from ingestion.event_store import EVENT_COLUMNS
from sessions.rollup import queue

_NANOS = Decimal(1_000_000_000)
_COLUMNS = ("organization_id", "received_at", *EVENT_COLUMNS)
_INSERT = f"""
WITH inserted AS (
    INSERT INTO ingestion_event ({", ".join(f'"{c}"' for c in _COLUMNS)})
    VALUES (%s, now(), {", ".join(["%s"] * len(EVENT_COLUMNS))})
    ON CONFLICT DO NOTHING
    RETURNING {queue.EVENT_SOURCE_COLUMNS}
), queued AS (
    {queue.queue_insert_from("inserted")}
)
SELECT event_id FROM inserted
"""
_local = threading.local()


def _connection() -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(libpq_url(os.environ["DATABASE_URL"]), autocommit=False)
        _local.conn = conn
    return conn


def _row(event: dict[str, Any]) -> tuple[Any, ...]:
    cost = event.get("cost")
    return (
        event["event_id"],
        event["timestamp"],
        event["model"],
        event["provider"],
        event.get("entity_type"),
        event.get("entity_id"),
        event.get("session_id"),
        event.get("input_tokens", 0),
        event.get("output_tokens", 0),
        event.get("cached_input_tokens", 0),
        int(Decimal(str(cost)) * _NANOS) if cost is not None else 0,
        "client",
        event.get("latency_ms"),
        event.get("status", "success"),
        orjson.dumps(event.get("tags") or {}).decode(),
        None,
    )


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"ok":true}', status=202, content_type="application/json")


@csrf_exempt
def insert(request: HttpRequest) -> HttpResponse:
    event = orjson.loads(request.body)
    conn = _connection()
    inserted = conn.execute(
        _INSERT, (int(os.environ["BASELINE_ORGANIZATION_ID"]), *_row(event))
    ).fetchall()
    conn.commit()
    body = {"event_id": event["event_id"], "duplicate": not inserted}
    return HttpResponse(orjson.dumps(body), status=202, content_type="application/json")


def healthz(request: HttpRequest) -> HttpResponse:
    """What bench/servers.py polls before it hands the server over."""
    return HttpResponse(b"ok")


urlpatterns = [
    path("healthz", healthz),
    path("baseline/bare", bare),
    path("baseline/insert", insert),
]
