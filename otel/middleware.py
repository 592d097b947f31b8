"""Chunked request bodies on the OTLP route, which OpenTelemetry's Node.js exporter sends.

Django reads only CONTENT_LENGTH bytes of a body, so infraprism's body-size middleware
refuses chunked bodies (411). gunicorn de-chunks them and says so (`wsgi.input_terminated`):
for POST /v1/otel/v1/traces only, this reads that body here, capped at MAX_BODY_BYTES, and hands
it on as an ordinary body with a Content-Length. Placed before the body-size middleware.
Elsewhere (other routes, or a server that does not de-chunk) the 411 stands.
"""

import io
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from infraprism.errors import error_body


class ChunkedOtlpBodyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._path: str | None = None

    def _is_chunked_otlp(self, request: HttpRequest) -> bool:
        if "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return False
        if not request.META.get("wsgi.input_terminated"):
            return False
        if self._path is None:
            self._path = reverse("otel-traces")
        return request.method == "POST" and request.path_info == self._path

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._is_chunked_otlp(request):
            limit = settings.MAX_BODY_BYTES
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                detail = f"Request body exceeds the {limit / (1024 * 1024):g} MB limit."
                return JsonResponse(error_body("payload_too_large", detail), status=413)
            del request.META["HTTP_TRANSFER_ENCODING"]
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[assignment]
        return self.get_response(request)
