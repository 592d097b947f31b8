"""ExportTraceService messages from and to the wire: binary protobuf, or OTLP/JSON.

OTLP/JSON is the protobuf JSON mapping with three differences the stock parser does not know:
trace and span ids are hex (not base64), enums are integers (which the parser accepts) and
unknown fields must be ignored. Ids are rewritten from hex to base64 before parsing, at the
places OTLP defines them. Field names may be lowerCamelCase or as in the .proto file.
"""

import base64
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Accepted request Content-Types -> the encoding of the answer.
MEDIA_TYPES = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}

_ID_FIELDS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


class BadPayload(ValueError):
    """The body cannot be read as an ExportTraceServiceRequest; the message says why."""


def _either(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel, obj.get(snake))


def _list_of_dicts(value: Any) -> list[dict[str, Any]]:
    # A wrong shape is left for the protobuf parser to name.
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _hex_ids_to_base64(obj: dict[str, Any], where: str) -> None:
    for name in _ID_FIELDS:
        value = obj.get(name)
        if not isinstance(value, str):
            continue
        try:
            obj[name] = base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            raise BadPayload(f"{where}.{name}: must be a hex string") from None


def _rewrite_ids(body: dict[str, Any]) -> None:
    for r, resource_spans in enumerate(
        _list_of_dicts(_either(body, "resourceSpans", "resource_spans"))
    ):
        scopes = _either(resource_spans, "scopeSpans", "scope_spans")
        for s, scope_spans in enumerate(_list_of_dicts(scopes)):
            for i, span in enumerate(_list_of_dicts(scope_spans.get("spans"))):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                _hex_ids_to_base64(span, where)
                for k, link in enumerate(_list_of_dicts(span.get("links"))):
                    _hex_ids_to_base64(link, f"{where}.links[{k}]")


def decode_request(body: bytes, media_type: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if media_type == PROTOBUF:
        try:
            request.ParseFromString(body)  # zero bytes: a valid, empty request
        except (DecodeError, RecursionError, ValueError) as exc:
            raise BadPayload(f"not a valid protobuf ExportTraceServiceRequest ({exc})") from None
        return request
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise BadPayload("must be a JSON object (an ExportTraceServiceRequest)")
    _rewrite_ids(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise BadPayload(f"not a valid OTLP/JSON ExportTraceServiceRequest ({exc})") from None
    return request


def encode(message: Message, media_type: str) -> bytes:
    """A response message in the request's encoding (OTLP/JSON: int64 as strings)."""
    if media_type == PROTOBUF:
        return message.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(message))


def export_response(*, rejected: int, message: str) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response


def status_message(*, code: int, message: str) -> Status:
    return Status(code=code, message=message)
