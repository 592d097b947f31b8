"""Request body cap (decided from Content-Length before anything parses), HEAD without a body,
and request logs."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from infraprism.errors import error_body
from infraprism.logsafe import log_safe

logger = logging.getLogger("infraprism.request")


def _too_large() -> JsonResponse:
    limit_mb = settings.MAX_BODY_BYTES / (1024 * 1024)
    return JsonResponse(
        error_body("payload_too_large", f"Request body exceeds the {limit_mb:g} MB limit."),
        status=413,
    )


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # WSGI gives Django no way to read a chunked body whole; refuse it rather than
            # see an empty body and answer as if the client had sent nothing.
            return JsonResponse(
                error_body("length_required", "Send the body with a Content-Length header."),
                status=411,
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                error_body("invalid_request", "Content-Length header is not a number."),
                status=400,
            )
        if length > settings.MAX_BODY_BYTES:
            return _too_large()
        response = self.get_response(request)
        if request.method == "HEAD" and not response.streaming:
            # gunicorn sends whatever body it is given; on a keep-alive connection the client
            # would read those bytes as the start of its next response.
            response.content = b""
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, RequestDataTooBig):
            return _too_large()
        return None


class RequestLogMiddleware:
    """One line per request: method, path, status, duration, organization and key prefix.

    The Authorization header is never logged; only the key's non-secret display prefix is.
    Whatever comes from the request is escaped (log_safe), so it cannot forge a line.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        log_request(request, response.status_code, (time.perf_counter() - started) * 1000)
        return response


def log_request(request: HttpRequest, status: int, elapsed_ms: float) -> None:
    """RequestLogMiddleware's line (also written by ingestion/fast_path.py, which answers
    before that middleware runs)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    principal = getattr(request, "infraprism_principal", None)
    who = principal.log_label if principal is not None else "org=- key=-"
    logger.info(
        "request method=%s path=%s status=%s duration_ms=%.1f %s",
        log_safe(request.method),
        log_safe(request.path),
        status,
        elapsed_ms,
        log_safe(who),
    )
