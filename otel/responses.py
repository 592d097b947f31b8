"""Answers in the request's own encoding: an exporter that sent protobuf cannot read JSON.

Success is an ExportTraceServiceResponse (partial_success when spans were rejected). Errors
follow OTLP/HTTP: a google.rpc.Status. In JSON the Status fields (`code`, `message`) sit beside
the API's usual error fields (`error`, `detail`, `errors`), so both kinds of client can read it.
"""

from typing import Any

import orjson
from django.http import HttpResponse
from rest_framework.response import Response

from otel.codec import JSON, PROTOBUF, encode, export_response, status_message

# google.rpc.Code for each HTTP status this endpoint answers with.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}
_GRPC_UNKNOWN = 2
_KEPT_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow")
MAX_MESSAGE_REASONS = 10


def rejection_message(*, rejections: list[str], genai_spans: int) -> str:
    if not rejections:
        return ""
    shown = "; ".join(rejections[:MAX_MESSAGE_REASONS])
    more = len(rejections) - MAX_MESSAGE_REASONS
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{len(rejections)} of {genai_spans} GenAI spans rejected: {shown}{tail}"


def export_answer(*, rejected: int, message: str, media_type: str) -> HttpResponse:
    body = encode(export_response(rejected=rejected, message=message), media_type)
    return HttpResponse(body, content_type=media_type, status=200)


def error_answer(response: Response, media_type: str) -> HttpResponse:
    """The API's error Response (infraprism.errors) re-encoded as an OTLP Status."""
    data: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
    detail = str(data.get("detail", "Request failed."))
    code = _GRPC_CODES.get(response.status_code, _GRPC_UNKNOWN)
    if media_type == PROTOBUF:
        body = encode(status_message(code=code, message=detail), PROTOBUF)
    else:
        media_type = JSON
        body = orjson.dumps({"code": code, "message": detail, **data})
    answer = HttpResponse(body, content_type=media_type, status=response.status_code)
    for header in _KEPT_HEADERS:
        if header in response:
            answer[header] = response[header]
    return answer
