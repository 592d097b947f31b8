"""A minimal stand-in for InfraPrism's `POST /v1/events/batch`, on a free local port.

It checks what the sender must do on the wire (gzip, Bearer key, batch shape), records every
request, and answers 202 unless a scripted answer is queued with `answer_next(...)`. Used by
the sender's own tests and by the sender throughput benchmark.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.quiet_server import QuietServer


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    events: list[dict[str, Any]]
    headers: dict[str, str]
    status: int


@dataclass
class Sink:
    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    answers: deque[Answer] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    record_events: bool = True
    event_count: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer_next(self, *answers: Answer) -> None:
        with self.lock:
            self.answers.extend(answers)

    def accepted_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for r in self.requests if r.status in (202, 207) for e in r.events]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_sink(port: int = 0) -> Sink:
    sink: Sink

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            with sink.lock:
                count = sink.event_count
            self._send(Answer(200, {"events": count}))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/events/batch":
                self._send(Answer(404, {"error": {"message": "no route"}}))
                return
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            events = json.loads(raw)["events"]
            with sink.lock:
                answer = sink.answers.popleft() if sink.answers else Answer(202)
                sink.event_count += len(events)
                sink.requests.append(
                    Received(
                        events if sink.record_events else [],
                        dict(self.headers.items()),
                        answer.status,
                    )
                )
            if answer.body is None and answer.status == 202:
                answer = Answer(202, {"accepted": len(events), "duplicates": 0, "rejected": 0})
            self._send(answer)

        def _send(self, answer: Answer) -> None:
            data = json.dumps(answer.body if answer.body is not None else {}).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    server = QuietServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    sink = Sink(server=server)
    threading.Thread(target=server.serve_forever, name="infraprism-sink", daemon=True).start()
    return sink
