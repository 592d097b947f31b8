"""Hostile input against a live gunicorn (the `make run` configuration): malformed bodies,
oversized bodies and headers, slow clients, unexpected methods. Nothing may produce a 5xx, and
the server must keep answering afterwards."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.factories import event, event_bytes
from tests.reliability.conftest import Stack, Tenant
from tests.reliability.support import Api, record
from tests.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

EVENTS = "/v1/events"
BATCH = "/v1/events/batch"
MAX_BODY = 5 * 1024 * 1024


def _batch_of(item: bytes) -> bytes:
    return b'{"events": [' + item + b"]}"


# (name, raw body). Each goes to /v1/events as is and to /v1/events/batch as a batch item.
ITEM_CORPUS: list[tuple[str, bytes]] = [
    ("deep-nesting-arrays", b"[" * 100_000 + b"]" * 100_000),
    ("deep-nesting-objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    (
        "deep-nesting-in-tags",
        b'{"model": "m", "tags": {"k": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}",
    ),
    ("huge-int-tokens", b'{"model": "m", "input_tokens": 1' + b"0" * 400 + b"}"),
    ("int64-overflow-tokens", b'{"model": "m", "output_tokens": 18446744073709551616}'),
    ("negative-tokens", b'{"model": "m", "input_tokens": -1}'),
    ("huge-float-cost", b'{"model": "m", "cost": 1e400}'),
    ("tiny-float-cost", b'{"model": "m", "cost": 1e-400}'),
    ("huge-exponent-cost", b'{"model": "m", "cost": 1E99999999999999999999}'),
    ("long-mantissa-cost", b'{"model": "m", "cost": 0.' + b"1" * 5000 + b"}"),
    ("negative-cost", b'{"model": "m", "cost": -0.5}'),
    ("nan-literal", b'{"model": "m", "cost": NaN}'),
    ("infinity-literal", b'{"model": "m", "cost": Infinity}'),
    ("minus-infinity-literal", b'{"model": "m", "latency_ms": -Infinity}'),
    ("nan-string", b'{"model": "m", "cost": "NaN"}'),
    ("invalid-utf8", b'{"model": "\xff\xfe\xfd"}'),
    ("overlong-utf8", b'{"model": "\xc0\xaf"}'),
    ("lone-surrogate-escape", b'{"model": "\\ud800"}'),
    ("nul-in-model", b'{"model": "a\\u0000b"}'),
    ("nul-in-session", b'{"model": "m", "session_id": "s\\u0000"}'),
    ("control-in-session", b'{"model": "m", "session_id": "a\\nb"}'),
    ("duplicate-keys", b'{"model": "a", "model": "b"}'),
    ("duplicate-event-id-keys", b'{"model": "m", "event_id": "d1", "event_id": "d2"}'),
    ("model-number", event_bytes(model=123)),
    ("model-null", event_bytes(model=None)),
    ("model-empty", event_bytes(model="")),
    ("model-huge", event_bytes(model="m" * 1_000_000)),
    ("tokens-string", event_bytes(input_tokens="5")),
    ("tokens-float", event_bytes(input_tokens=5.5)),
    ("tokens-bool", event_bytes(input_tokens=True)),
    ("cost-string", event_bytes(cost="0.1")),
    ("cost-bool", event_bytes(cost=True)),
    ("cost-object", event_bytes(cost={"usd": 1})),
    ("tags-list", event_bytes(tags=["a"])),
    ("tags-int-values", event_bytes(tags={"a": 1})),
    ("tags-too-many", event_bytes(tags={f"k{i}": "v" for i in range(51)})),
    ("tags-huge-key", event_bytes(tags={"k" * 10_000: "v"})),
    ("timestamp-number", event_bytes(timestamp=12345)),
    ("timestamp-garbage", event_bytes(timestamp="2024-13-45T99:99:99Z")),
    ("timestamp-naive", event_bytes(timestamp="2024-06-01T00:00:00")),
    ("timestamp-year-1", event_bytes(timestamp="0001-01-01T00:00:00Z")),
    ("timestamp-far-future", event_bytes(timestamp="9999-12-31T23:59:59+14:00")),
    ("status-unknown", event_bytes(status="ok")),
    ("entity-half", event_bytes(entity_type="customer")),
    ("unknown-field", event_bytes(modle="typo")),
    ("session-id-huge", event_bytes(session_id="s" * 100_000)),
    ("event-id-huge", event_bytes(event_id="e" * 100_000)),
    ("top-level-null", b"null"),
    ("top-level-number", b"42"),
    ("top-level-string", b'"event"'),
    ("top-level-array", b"[]"),
    ("top-level-true", b"true"),
    ("truncated", b'{"model": "m", "input_tok'),
    ("trailing-garbage", b'{"model": "m"} xyz'),
    ("trailing-comma", b'{"model": "m",}'),
    ("single-quotes", b"{'model': 'm'}"),
    ("bom-prefix", b'\xef\xbb\xbf{"model": "m"}'),
    ("utf16-body", '{"model": "m"}'.encode("utf-16")),
    ("whitespace-only", b"   \n\t "),
    ("nul-bytes", b"\x00" * 64),
]

# Whole batch bodies that are broken as batches.
BATCH_CORPUS: list[tuple[str, bytes]] = [
    ("events-object", b'{"events": {}}'),
    ("events-string", b'{"events": "x"}'),
    ("events-null", b'{"events": null}'),
    ("events-numbers", b'{"events": [1, 2, 3]}'),
    ("events-nested-lists", b'{"events": [[{"model": "m"}]]}'),
    ("events-missing", b"{}"),
    ("events-extra-key", b'{"events": [], "org": 1}'),
    ("events-duplicate-keys", b'{"events": [], "events": [{"model": "m"}]}'),
    ("events-1001", json.dumps({"events": [{"model": "m"}] * 1001}).encode()),
    ("events-deep", b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
]

# Valid or acceptable outcomes: 202/207 when an input is acceptable after all (duplicate keys,
# a BOM...), 400 for bad input, 413 for too big. Never anything else, never a 5xx.
ACCEPTABLE = {202, 207, 400, 413}


@pytest.fixture
def tenant(make_tenant: Callable[[str], Tenant]) -> Tenant:
    return make_tenant("hostile")


def _post_raw(api: Api, path: str, body: bytes, content_type: str) -> requests.Response:
    return api.post(path, data=body, headers={"Content-Type": content_type})


def test_malformed_body_corpus_never_5xx(live: Stack, tenant: Tenant) -> None:
    api = tenant.api(live.url)
    outcomes: dict[str, int] = {}
    cases = [(f"single/{n}", EVENTS, b) for n, b in ITEM_CORPUS]
    cases += [(f"batch-item/{n}", BATCH, _batch_of(b)) for n, b in ITEM_CORPUS]
    cases += [(f"batch/{n}", BATCH, b) for n, b in BATCH_CORPUS]
    cases += [
        ("content-type/text-plain", EVENTS, event_bytes()),
        ("content-type/form", EVENTS, b"model=gpt-4o"),
        ("content-type/none", EVENTS, event_bytes()),
    ]
    for name, path, body in cases:
        content_type = {
            "content-type/text-plain": "text/plain",
            "content-type/form": "application/x-www-form-urlencoded",
            "content-type/none": "",
        }.get(name, "application/json")
        response = _post_raw(api, path, body, content_type)
        outcomes[name] = response.status_code
        assert response.status_code < 500, (name, response.status_code, response.text[:300])
        assert response.status_code in ACCEPTABLE | {415}, (name, response.status_code)
        assert response.headers["Content-Type"].startswith("application/json"), name
        payload = response.json()
        if response.status_code >= 400:
            assert payload["error"] and payload["detail"], (name, payload)
    record(
        malformed_inputs_tried=len(cases),
        malformed_5xx_seen=sum(1 for s in outcomes.values() if s >= 500),
    )
    # Clearly broken inputs are refused, not silently stored.
    for name in ("single/nan-literal", "single/invalid-utf8", "single/deep-nesting-arrays",
                 "single/huge-int-tokens", "single/model-number", "batch/events-1001"):  # fmt: skip
        assert outcomes[name] == 400, (name, outcomes[name])
    assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200
    assert api.post(EVENTS, json=event(None)).status_code == 202


def _padded(body: bytes, size: int) -> bytes:
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + body[-1:]


def test_oversized_bodies_are_413_and_the_limit_is_exact(live: Stack, tenant: Tenant) -> None:
    api = tenant.api(live.url)
    valid = json.dumps({"events": [event("big-1")]}).encode()

    at_limit = api.post(BATCH, data=_padded(valid, MAX_BODY))
    assert at_limit.status_code == 202, at_limit.text[:300]

    for size in (MAX_BODY + 1, 6 * 1024 * 1024, 40 * 1024 * 1024):
        for path in (EVENTS, BATCH):
            response = api.post(path, data=_padded(valid, size))
            assert response.status_code == 413, (path, size, response.status_code)
            assert response.json()["error"] == "payload_too_large"
    assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200
    record(oversized_bodies_tried=7)


def _chunks(total: int, piece: int = 1024 * 1024) -> Iterator[bytes]:
    yield b'{"events": [{"model": "gpt-4o"}]'
    sent = 0
    while sent < total:
        yield b" " * piece
        sent += piece
    yield b"}"


def test_chunked_bodies_are_read_or_refused_never_silently_dropped(
    live: Stack, tenant: Tenant
) -> None:
    """HTTP/1.1 clients may stream a body with Transfer-Encoding: chunked (no Content-Length).

    Such a body must be read (202) or refused as such (411 Length Required, or 413 when too
    large); it must not be taken for an empty body and answered 'Request body is empty'.
    """
    api = tenant.api(live.url)
    small = api.post(BATCH, data=_chunks(0))
    assert small.status_code in (202, 411), (small.status_code, small.text[:300])
    big = api.post(BATCH, data=_chunks(8 * 1024 * 1024))
    assert big.status_code in (411, 413), (big.status_code, big.text[:300])
    assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200


def _raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        return received


def _status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def test_oversized_headers_get_a_4xx_and_the_server_keeps_answering(
    live: Stack, tenant: Tenant
) -> None:
    port = live.server.port
    big = "x" * 100_000
    requests_ = {
        "100KB header": f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n",
        "100KB Authorization": (
            f"GET /v1/analytics/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer ip-{big}\r\n\r\n"
        ),
        "500 headers": "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + "".join(f"X-H{i}: v\r\n" for i in range(500))
        + "\r\n",
        "100KB request line": f"GET /healthz?{big} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "garbage request line": "\x00\x01\x02 / HTTP/9.9\r\n\r\n",
    }
    statuses = {}
    for name, raw in requests_.items():
        statuses[name] = _status_of(_raw_request(port, raw.encode("latin-1")))
        assert 400 <= statuses[name] < 500, (name, statuses[name])
        assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200, name
    api = tenant.api(live.url)
    assert api.get("/v1/analytics/sessions").status_code == 200
    record(oversized_header_inputs_tried=len(requests_))


def _slow_client(
    port: int, key: str, byte_interval: float, statuses: list[int], in_body: list[int]
) -> None:
    """POST one event, sending its body one byte every `byte_interval` seconds; `in_body` gets
    an entry once the headers and the first byte are sent."""
    body = json.dumps(event(None, session_id="slow-client")).encode()
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for number, byte in enumerate(body):
            time.sleep(byte_interval)  # the slowness is the behaviour under test
            sock.sendall(bytes([byte]))
            if number == 0:
                in_body.append(1)
        received = b""
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    statuses.append(_status_of(received))


def test_slow_clients_do_not_block_others(live: Stack, tenant: Tenant) -> None:
    """Three clients dribble a request body a byte at a time (~8 s each) while normal traffic
    flows; then they are served too.

    `make run` serves with 2 gunicorn workers x 4 threads and a slow client holds one thread,
    so up to 3 of them can never take all the threads of either worker. (As many slow clients
    as threads do block the server: see the soak test and docs/reliability.md.)
    """
    api = tenant.api(live.url)
    slow_statuses: list[int] = []
    in_body: list[int] = []
    slow = [
        threading.Thread(
            target=_slow_client, args=(live.server.port, tenant.key, 0.15, slow_statuses, in_body)
        )
        for _ in range(3)
    ]
    for thread in slow:
        thread.start()
    try:
        wait_until(lambda: len(in_body) == len(slow), timeout=10, what="slow clients in bodies")

        def normal(i: int) -> float:
            started = time.monotonic()
            if i % 2:
                response = api.get("/v1/analytics/sessions", timeout=10)
                assert response.status_code == 200
            else:
                response = api.post(EVENTS, json=event(None), timeout=10)
                assert response.status_code == 202
            return time.monotonic() - started

        with ThreadPoolExecutor(max_workers=2) as pool:
            latencies = list(pool.map(normal, range(30)))
        assert all(thread.is_alive() for thread in slow), "the slow clients finished too soon"
    finally:
        for thread in slow:
            thread.join(60)
    assert max(latencies) < 3, sorted(latencies)[-5:]
    assert slow_statuses == [202, 202, 202]
    record(slow_clients=len(slow), normal_requests_during_slow_clients=len(latencies))


ENDPOINTS = [
    EVENTS,
    BATCH,
    "/v1/analytics/sessions",
    "/v1/analytics/sessions/s-1",
    "/v1/analytics/sessions/s-1/timeline",
    "/v1/analytics/session-metrics",
    "/v1/analytics/costs",
    "/v1/analytics/events",
]


def test_unexpected_methods_never_5xx(live: Stack, tenant: Tenant) -> None:
    statuses = {}
    for method in ("OPTIONS", "PUT", "PATCH", "DELETE", "TRACE"):
        for path in ENDPOINTS:
            # A fresh connection each: a broken response cannot spill into the next one.
            response = requests.request(
                method,
                live.url + path,
                headers={"Authorization": f"Bearer {tenant.key}"},
                timeout=10,
            )
            statuses[f"{method} {path}"] = response.status_code
    record(
        unexpected_method_requests=len(statuses),
        unexpected_method_5xx_seen=sum(1 for s in statuses.values() if s >= 500),
    )
    assert {k: s for k, s in statuses.items() if s >= 500} == {}


def _head(port: int, path: str, key: str) -> tuple[bytes, bytes]:
    """HEAD over a raw socket: (status line, bytes that followed the headers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], rest


def test_head_responses_carry_no_body(live: Stack, tenant: Tenant) -> None:
    """RFC 9110: a response to HEAD has no content. Bytes after the headers are read by a
    keep-alive client as the start of its next response (requests then fails on a garbage
    status line), or by a proxy as a smuggled response."""
    leaked = {}
    for path in ["/healthz", "/readyz", *ENDPOINTS]:
        status_line, rest = _head(live.server.port, path, tenant.key)
        assert status_line.startswith(b"HTTP/1.1 "), (path, status_line)
        if rest:
            leaked[path] = (status_line.decode(), len(rest))
    record(head_requests=len(ENDPOINTS) + 2, head_responses_with_body=len(leaked))
    assert leaked == {}, f"HEAD responses with a body: {leaked}"


QUERY_CORPUS = [
    "tz=%25",
    "tz=%25s%25d",
    "tz=%00",
    "tz=" + "A" * 3000,
    "tz=../../../../etc/passwd",
    "tz=Europe/Paris%00",
    "start_date=%25",
    "start_date=9999-99-99",
    "start_date=0000-01-01",
    "start_date=2025-01-02&end_date=2025-01-01",
    "end_date=2024-01-01T25:00:00Z",
    "end_date=2024-01-01T00:00:00%2B99:00",
    "limit=-1",
    "limit=1001",
    "limit=99999999999999999999",
    "limit=1e3",
    "limit=%00",
    "cursor=%25",
    "cursor=" + "A" * 3000,
    "cursor=eyJ4IjoxfQ",
    "cursor=!!!",
    "cursor=bnVsbA",
    "tag=%25",
    "tag=:",
    "&".join(f"tag=k{i}:v" for i in range(60)),
    "min_cost=NaN",
    "min_cost=1e999",
    "min_cost=-1",
    "min_turns=99999999999999999999",
    "order_by=%25",
    "order_by=-",
    "order_by=total_cost;drop table x",
    "group_by=tag:" + "k" * 65,
    "group_by=tag:%25",
    "group_by=%25",
    "entity_id=%00",
    "entity_type=x&entity_id=%25",
    "model=%FF",
    "session_id=%F0%9F%92%A9",
    "interval=%25",
    "format=xml",
    "format=csv&format=json",
    "unknown=1",
    "%25=%25",
    "%FF=%FE",
]
QUERY_PATHS = [
    "/v1/analytics/sessions",
    "/v1/analytics/session-metrics",
    "/v1/analytics/costs",
    "/v1/analytics/events",
    "/v1/analytics/sessions/s-1",
    "/v1/analytics/sessions/s-1/timeline",
]


def test_hostile_query_strings_never_5xx(live: Stack, tenant: Tenant) -> None:
    api = tenant.api(live.url)
    server_errors = {}
    for path in QUERY_PATHS:
        for query in QUERY_CORPUS:
            response = api.get(f"{path}?{query}")
            if response.status_code >= 500:
                server_errors[f"{path}?{query[:60]}"] = response.status_code
            else:
                assert response.status_code in (200, 400, 404), (path, query[:60])
    record(
        hostile_queries_tried=len(QUERY_PATHS) * len(QUERY_CORPUS),
        hostile_queries_5xx_seen=len(server_errors),
    )
    assert server_errors == {}
