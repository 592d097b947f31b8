"""The real OpenTelemetry SDK and its OTLP/HTTP exporter against a live gunicorn.

The stock OTLPSpanExporter is configured the way users configure it, from
OTEL_EXPORTER_OTLP_ENDPOINT=<base>/v1/otel and OTEL_EXPORTER_OTLP_HEADERS; the sessions it
reports then come back from the Analytics API with exact tokens and costs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.otel.live import server_env, tenant
from tests.otel.spans import T0_NS, JsonSpanExporter, chat, json_body, llm_call, recording
from tests.reliability import procs

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# gpt-4o-mini list price per million tokens: input 0.15, output 0.60, cached input 0.075.
CALL_A = {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 200}
CALL_A |= {"gen_ai.usage.output_tokens": 500}  # 800 x 0.15 + 200 x 0.075 + 500 x 0.60 = 435
CALL_B = {"gen_ai.usage.input_tokens": 2000, "gen_ai.usage.output_tokens": 100}  # 300 + 60
# claude-3-5-haiku: input 0.80, output 4.00 -> 1000 x 0.80 + 1000 x 4.00 = 4800 micro-dollars.
CALL_C = {"gen_ai.usage.prompt_tokens": 1000, "gen_ai.usage.completion_tokens": 1000}


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[procs.Server]:
    logs = tmp_path_factory.mktemp("otel-live")
    with django_db_blocker.unblock():
        env = server_env()
    started = procs.start_gunicorn(env, Path(logs))
    try:
        yield started
    finally:
        started.stop()


def _decimal_json(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def _sessions(base: str, key: str) -> dict[str, dict[str, Any]]:
    response = requests.get(
        f"{base}/v1/analytics/sessions", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    return {s["session_id"]: s for s in _decimal_json(response)["data"]}


def _record_and_export(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("app")
    llm_call(tracer, chat(**{"session.id": "live-1", "user.id": "u-1", **CALL_A}))
    llm_call(tracer, chat(**{"session.id": "live-1", **CALL_B}), start_ns=T0_NS + 5 * 10**9)
    deprecated = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku-20241022",
        "gen_ai.conversation.id": "live-2",
        **CALL_C,
    }
    llm_call(tracer, deprecated, start_ns=T0_NS + 9 * 10**9)
    llm_call(tracer, {"http.request.method": "POST"}, name="POST /chat")  # ignored


def test_sdk_protobuf_exporter_spans_become_sessions_and_reexport_changes_nothing(
    server: procs.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = tenant("otel-live-acme")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"{server.url}/v1/otel")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{acme.key}")
    exporter = OTLPSpanExporter()
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chatbot"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    _record_and_export(provider)
    assert provider.force_flush(10_000)

    sessions = _sessions(server.url, acme.key)
    assert set(sessions) == {"live-1", "live-2"}
    one, two = sessions["live-1"], sessions["live-2"]
    assert (one["turn_count"], one["input_tokens"], one["output_tokens"]) == (2, 3000, 600)
    assert one["total_cost"] == Decimal("0.000795")
    assert (one["entity_type"], one["entity_id"]) == ("user", "u-1")
    assert one["models"] == ["gpt-4o-mini"]
    assert (two["turn_count"], two["input_tokens"], two["output_tokens"]) == (1, 1000, 1000)
    assert two["total_cost"] == Decimal("0.0048")
    assert two["models"] == ["claude-3-5-haiku-20241022"]

    # The exporter retries on timeouts: the same spans again, gzipped this time.
    again = OTLPSpanExporter(compression=Compression.Gzip)
    assert again.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
    assert _sessions(server.url, acme.key) == sessions
    provider.shutdown()


def test_json_export_with_gzip_to_a_live_server(server: procs.Server) -> None:
    globex = tenant("otel-live-globex")
    exporter = JsonSpanExporter(
        f"{server.url}/v1/otel/v1/traces",
        {"Authorization": f"Bearer {globex.key}"},
        gzipped=True,
    )
    with recording({"infraprism.entity_type": "team", "infraprism.entity_id": "ml"}) as (
        tracer,
        spans,
    ):
        llm_call(tracer, chat(**{"infraprism.session_id": "json-live", **CALL_B}))
        llm_call(
            tracer,
            chat(**{"infraprism.session_id": "json-live", **CALL_A}),
            start_ns=T0_NS + 10**9,
        )
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.responses[0].headers["Content-Type"] == "application/json"
    assert exporter.responses[0].json() == {}
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # re-exported: duplicates

    sessions = _sessions(server.url, globex.key)
    assert list(sessions) == ["json-live"]
    session = sessions["json-live"]
    assert (session["turn_count"], session["input_tokens"], session["output_tokens"]) == (
        2,
        3000,
        600,
    )
    assert session["total_cost"] == Decimal("0.000795")
    assert (session["entity_type"], session["entity_id"]) == ("team", "ml")


def test_live_errors_are_statuses_and_never_5xx(server: procs.Server) -> None:
    initech = tenant("otel-live-initech")
    url = f"{server.url}/v1/otel/v1/traces"
    auth = {"Authorization": f"Bearer {initech.key}"}
    response = requests.post(
        url, data=b"\x0a\x05ab", headers={**auth, "Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/x-protobuf"
    assert Status.FromString(response.content).code == 3

    unauthenticated = OTLPSpanExporter(endpoint=url, headers={"Authorization": "Bearer ip-nope"})
    with recording() as (tracer, spans):
        llm_call(tracer, chat())
    assert unauthenticated.export(spans) == SpanExportResult.FAILURE
    assert _sessions(server.url, initech.key) == {}


def _chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
    # A generator body: requests sends it with Transfer-Encoding: chunked, as Node.js does.
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_bodies_as_nodejs_exporters_send_them(server: procs.Server) -> None:
    umbrella = tenant("otel-live-umbrella")
    url = f"{server.url}/v1/otel/v1/traces"
    auth = {"Authorization": f"Bearer {umbrella.key}"}
    with recording() as (tracer, spans):
        for i in range(20):
            llm_call(tracer, chat(**{"session.id": "chunked", **CALL_B}), start_ns=T0_NS + i)
    response = requests.post(
        url, data=_chunks(json_body(spans)), headers={**auth, "Content-Type": "application/json"}
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert _sessions(server.url, umbrella.key)["chunked"]["turn_count"] == 20

    too_big = requests.post(
        url,
        data=_chunks(b"\x00" * (5 * 1024 * 1024 + 1), size=1024 * 1024),
        headers={**auth, "Content-Type": "application/x-protobuf"},
    )
    assert too_big.status_code == 413
    # Elsewhere a chunked body is still refused: Django would read it as empty.
    batch = requests.post(
        f"{server.url}/v1/events/batch",
        data=_chunks(b'{"events": []}'),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert batch.status_code == 411
