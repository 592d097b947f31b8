"""Posting OTLP bodies through Django's test client and reading the answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingestion.models import Event
from tests.otel.spans import JSON, PROTOBUF

TRACES = "/v1/otel/v1/traces"


def post(client: Any, body: bytes, content_type: str = PROTOBUF, **headers: str) -> Any:
    return client.generic("POST", TRACES, body, content_type=content_type, **headers)


def export_answer(response: Any) -> ExportTraceServiceResponse:
    """The ExportTraceServiceResponse of a 200, read in the encoding it declares."""
    assert response.status_code == 200, response.content
    if response["Content-Type"] == PROTOBUF:
        return ExportTraceServiceResponse.FromString(response.content)
    assert response["Content-Type"] == JSON, response["Content-Type"]
    answer = ExportTraceServiceResponse()
    from google.protobuf import json_format

    json_format.Parse(response.content, answer)
    return answer


def status_answer(response: Any) -> Status:
    """The google.rpc.Status of an error answer to a protobuf request."""
    assert response["Content-Type"] == PROTOBUF, response["Content-Type"]
    return Status.FromString(response.content)


def json_answer(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == JSON, response["Content-Type"]
    data: dict[str, Any] = orjson.loads(response.content)
    return data


def stored(organization_id: int) -> dict[str, dict[str, Any]]:
    """The stored events by event_id, with the fields a span maps to."""
    rows = Event.objects.filter(organization_id=organization_id).values()
    return {row["event_id"]: dict(row) for row in rows}


def usd(text: str) -> Decimal:
    return Decimal(text)
