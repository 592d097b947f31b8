"""A fake OpenAI upstream on a free local port: chat completions (JSON and server-sent events,
with usage and tool calls), responses and embeddings, plus failures on demand.

Each answer's usage is recorded in `calls`, so a test can compare what InfraPrism received with
what the upstream reported. Failures are queued with `fail_next(...)`: `status` answers an HTTP
error (429 with `retry_after` sets Retry-After); `cut_after` sends that many stream chunks and
then drops the connection.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.quiet_server import QuietServer

# The model that answers a request for "gpt-4o", as OpenAI's API does (a dated snapshot).
ANSWERING_MODELS = {"gpt-4o": "gpt-4o-2024-08-06"}
ATTRIBUTION_KEYS = {"entity_type", "entity_id", "session_id", "tags", "event_id", "cost"}


@dataclass
class Failure:
    status: int | None = None
    retry_after: str | None = None
    cut_after: int | None = None


@dataclass
class Call:
    path: str
    model: str
    usage: dict[str, int]
    body: dict[str, Any]
    streamed: bool = False


@dataclass
class FakeOpenAI:
    server: ThreadingHTTPServer
    calls: list[Call] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def fail_next(self, *failures: Failure) -> None:
        with self.lock:
            self.failures.extend(failures)

    def next_failure(self) -> Failure | None:
        with self.lock:
            return self.failures.popleft() if self.failures else None

    def record(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_fake_openai() -> FakeOpenAI:
    fake: FakeOpenAI

    class Handler(_Handler):
        def fake(self) -> FakeOpenAI:
            return fake

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake = FakeOpenAI(server=server)
    threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True).start()
    return fake


def _prompt_tokens(messages: Any) -> int:
    """Deterministic, content-dependent token counts (4 characters a token, as a rule of thumb)."""
    text = json.dumps(messages, sort_keys=True, default=str)
    return 5 + len(text) // 4


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def fake(self) -> FakeOpenAI:  # replaced by start_fake_openai
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        failure = self.fake().next_failure()
        if failure is not None and failure.status is not None:
            self._error(failure.status, failure.retry_after)
            return
        leaked = ATTRIBUTION_KEYS & set(body)
        if leaked:  # InfraPrism's keywords must never reach OpenAI
            self._error(400, None, f"unknown parameter(s): {sorted(leaked)}")
            return
        path = self.path.split("?")[0]
        if path == "/v1/chat/completions":
            self._chat(body, failure)
        elif path == "/v1/responses":
            self._responses(body)
        elif path == "/v1/embeddings":
            self._embeddings(body)
        else:
            self._error(404, None, f"no route {path}")

    # --- chat ------------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any], failure: Failure | None) -> None:
        messages = body.get("messages") or []
        model = ANSWERING_MODELS.get(body.get("model", ""), body.get("model", "unknown"))
        prompt = _prompt_tokens(messages)
        # Later turns of a conversation hit the prompt cache, as OpenAI's do.
        cached = (prompt // 2) if len(messages) > 2 else 0
        wants_tool = bool(body.get("tools")) and not any(
            isinstance(m, dict) and m.get("role") == "tool" for m in messages
        )
        if wants_tool:
            tool = body["tools"][0]["function"]["name"]
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{len(messages)}",
                        "type": "function",
                        "function": {"name": tool, "arguments": '{"city": "Paris"}'},
                    }
                ],
            }
            finish = "tool_calls"
            completion = 12
        else:
            reply = f"Answer to turn {len(messages)}: sessions group calls."
            message = {"role": "assistant", "content": reply}
            finish = "stop"
            completion = 3 + len(reply) // 4
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        streamed = bool(body.get("stream"))
        self.fake().record(
            Call(
                "/chat/completions",
                model,
                {"input": prompt, "output": completion, "cached": cached},
                body,
                streamed,
            )
        )
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": model}
        if not streamed:
            self._json(
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = []
        content = message.get("content") or ""
        pieces = [content[i : i + 12] for i in range(0, len(content), 12)] or [""]
        chunks.append({"role": "assistant", "content": ""})
        chunks.extend({"content": piece} for piece in pieces)
        events = [
            {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                **({"usage": None} if include_usage else {}),
            }
            for delta in chunks
        ]
        events.append(
            {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                **({"usage": None} if include_usage else {}),
            }
        )
        if include_usage:
            events.append(
                {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            )
        self._sse(events, cut_after=failure.cut_after if failure else None)

    # --- responses and embeddings ------------------------------------------------------------

    def _responses(self, body: dict[str, Any]) -> None:
        model = ANSWERING_MODELS.get(body.get("model", ""), body.get("model", "unknown"))
        prompt = _prompt_tokens(body.get("input"))
        text = "A response from the Responses API."
        output = 3 + len(text) // 4
        self.fake().record(
            Call("/responses", model, {"input": prompt, "output": output, "cached": 0}, body)
        )
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + output,
        }
        response = {
            "id": "resp_fake",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_fake",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }
        if body.get("stream"):
            events = [
                {"type": "response.created", "sequence_number": 0, "response": response},
                {
                    "type": "response.output_text.delta",
                    "sequence_number": 1,
                    "item_id": "msg_fake",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": text,
                    "logprobs": [],
                },
                {"type": "response.completed", "sequence_number": 2, "response": response},
            ]
            self._sse(events, cut_after=None, named=True)
            return
        self._json(200, response)

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        prompt = _prompt_tokens(inputs)
        self.fake().record(
            Call(
                "/embeddings",
                body.get("model", ""),
                {"input": prompt, "output": 0, "cached": 0},
                body,
            )
        )
        vector = [0.1, 0.2, 0.3]
        if body.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(struct.pack("<3f", *vector)).decode()
        else:
            encoded = vector
        self._json(
            200,
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": encoded}
                    for i in range(len(items))
                ],
                "model": body.get("model"),
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
            },
        )

    # --- wire --------------------------------------------------------------------------------

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, retry_after: str | None, message: str = "") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._json(
            status,
            {"error": {"message": message or f"fake upstream error {status}", "type": "fake"}},
            headers,
        )

    def _sse(
        self, events: list[dict[str, Any]], *, cut_after: int | None, named: bool = False
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number, event in enumerate(events):
            if cut_after is not None and number >= cut_after:
                # Drop the connection mid-stream: no terminating chunk, no [DONE].
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            prefix = f"event: {event['type']}\n" if named else ""
            self._chunk(f"{prefix}data: {json.dumps(event)}\n\n".encode())
        if not named:
            self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
