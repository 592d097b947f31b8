"""POST /v1/otel/v1/traces: OTLP/HTTP trace export (protobuf or JSON, gzip or not).

Authentication, the `ingest` scope and the rate limit are those of /v1/events. The body limit
and gzip handling are the batch endpoint's (ingestion/body.py). Every answer, errors included,
is in the encoding the request was sent in (otel/responses.py).
"""

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from infraprism.errors import ApiError
from infraprism.permissions import HasIngestScope
from infraprism.ratelimit import IngestRateThrottle
from infraprism.viewsets import TenantViewSet
from ingestion.body import read_body
from otel.codec import JSON, MEDIA_TYPES, BadPayload, decode_request
from otel.responses import error_answer, export_answer, rejection_message
from otel.services import spans_ingest


def _media_type(request: Any) -> str | None:
    """The request's encoding (a key of MEDIA_TYPES' values), or None when unsupported."""
    content_type = request.META.get("CONTENT_TYPE", "")
    return MEDIA_TYPES.get(content_type.split(";")[0].strip().lower())


class OtlpTracesViewSet(TenantViewSet):
    permission_classes = [HasIngestScope]
    throttle_classes = [IngestRateThrottle]
    parser_classes: list[Any] = []  # the body is read below, in the encoding it declares
    schema = None  # OTLP is documented in docs/api.md, not in the OpenAPI schema

    def create(self, request: Request) -> HttpResponse:
        media_type = _media_type(request)
        if media_type is None:
            reason = "must be application/x-protobuf or application/json"
            raise ApiError(
                status_code=415,
                code="unsupported_media_type",
                detail=f"Content-Type: {reason}",
                errors={"Content-Type": [reason]},
            )
        stream = request.stream  # None when the body is empty
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "")
        body = read_body(stream, content_encoding=encoding) if stream is not None else b""
        try:
            export = decode_request(body, media_type)
        except BadPayload as exc:
            reason = str(exc)
            raise ApiError(
                status_code=400,
                code="invalid_request",
                detail=f"Request body is {reason}",
                errors={"body": [reason]},
            ) from None
        result = spans_ingest(organization_id=self.organization.pk, request=export)
        message = rejection_message(
            rejections=result.rejections, genai_spans=result.events + result.rejected
        )
        return export_answer(rejected=result.rejected, message=message, media_type=media_type)

    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
        response = super().handle_exception(exc)
        if not isinstance(response, Response):
            return response
        return error_answer(response, _media_type(self.request) or JSON)
