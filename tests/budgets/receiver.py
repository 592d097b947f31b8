"""A webhook receiver on a local port that verifies every delivery with the `standardwebhooks`
library (the Standard Webhooks reference implementation, not our own code), and answers as a
test tells it: succeed, fail the first N requests, always fail, redirect, or hold a request
until released."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    message_id: str
    verified: bool
    status: int
    body: dict[str, Any] | None
    at: float  # time.time() on receipt


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0
    always: int | None = None  # a fixed status code for every request
    redirect_to: str | None = None
    hold: threading.Event | None = None  # held requests wait for it, then answer 503
    hold_first: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    arrivals: int = 0  # requests that reached the receiver, held ones included

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        for secret in self.secrets:
            try:
                parsed: dict[str, Any] = Webhook(secret).verify(body, headers)
                return parsed
            except WebhookVerificationError:
                continue
        return None

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        parsed = self.verify(body, headers)
        with self.lock:
            self.arrivals += 1
            number = len(self.received)
            held = self.hold is not None and number < self.hold_first
            if not held:
                status = self._status(number, parsed)
                self.received.append(
                    Received(
                        headers.get("webhook-id", ""),
                        parsed is not None,
                        status,
                        parsed,
                        time.time(),
                    )
                )
        if held:
            assert self.hold is not None
            self.hold.wait(60)
            with self.lock:
                self.received.append(
                    Received(
                        headers.get("webhook-id", ""), parsed is not None, 503, parsed, time.time()
                    )
                )
            return 503
        return status

    def _status(self, number: int, parsed: dict[str, Any] | None) -> int:
        if parsed is None:
            return 401
        if self.redirect_to:
            return 302
        if self.always is not None:
            return self.always
        return 500 if number < self.fail_first else 204

    def ok_ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received if 200 <= r.status < 300]

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.body for r in self.received if r.body is not None and 200 <= r.status < 300]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.answer(body, headers)
            self.send_response(status)
            if status == 302 and receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()


def ids_delivered_once(receiver: Receiver) -> bool:
    """No webhook-id was answered 2xx more than once."""
    ids = receiver.ok_ids()
    return len(ids) == len(set(ids))


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
