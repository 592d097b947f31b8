"""Spans made by the real OpenTelemetry SDK, and their OTLP encodings.

Protobuf comes from the SDK's own OTLP encoder (what OTLPSpanExporter sends). OTLP/JSON is the
same message in the JSON mapping with hex ids, as the OTLP specification writes it; the SDK
for Python has no JSON exporter, so JsonSpanExporter below posts it.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SECOND_NS = 1_000_000_000
# 2025-06-01T12:00:00Z: inside every shipped price's validity.
T0_NS = 1_748_779_200 * SECOND_NS


@contextmanager
def recording(resource: Mapping[str, Any] | None = None) -> Iterator[tuple[Tracer, list[Any]]]:
    """A tracer of a fresh TracerProvider; the list holds the finished spans on exit."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(dict(resource or {})))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    finished: list[Any] = []
    yield provider.get_tracer("tests.otel"), finished
    provider.force_flush()
    finished.extend(memory.get_finished_spans())
    provider.shutdown()


def llm_call(
    tracer: Tracer,
    attributes: Mapping[str, Any],
    *,
    start_ns: int = T0_NS,
    duration_ms: int = 1200,
    error: str | None = None,
    name: str = "chat gpt-4o-mini",
) -> None:
    """One finished span with the given attributes and times, as an instrumentation makes it."""
    span = tracer.start_span(
        name, kind=SpanKind.CLIENT, attributes=dict(attributes), start_time=start_ns
    )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=start_ns + duration_ms * 1_000_000)


def chat(model: Any = "gpt-4o-mini", **attributes: Any) -> dict[str, Any]:
    """Attributes of a chat call in the current GenAI conventions (underscores for dots)."""
    base: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
    }
    base.update({key.replace("__", "."): value for key, value in attributes.items()})
    return base


def export_request(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    return encode_spans(spans)


def protobuf_body(spans: Sequence[ReadableSpan]) -> bytes:
    return bytes(encode_spans(spans).SerializeToString())


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def json_document(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """OTLP/JSON: lowerCamelCase names, hex ids, enums as integers, int64 as strings."""
    document = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    _hex_ids(document)
    return document


def json_body(spans: Sequence[ReadableSpan]) -> bytes:
    return orjson.dumps(json_document(spans))


class JsonSpanExporter(SpanExporter):
    """An OTLP/HTTP JSON span exporter (the SDK for Python ships protobuf only)."""

    def __init__(self, endpoint: str, headers: Mapping[str, str], *, gzipped: bool = False):
        self.endpoint = endpoint
        self.headers = dict(headers)
        self.gzipped = gzipped
        self.responses: list[requests.Response] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = json_body(spans)
        headers = {**self.headers, "Content-Type": JSON}
        if self.gzipped:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        response = requests.post(self.endpoint, data=body, headers=headers, timeout=10)
        self.responses.append(response)
        ok = response.status_code == 200
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass
