"""One JSON error shape for every 4xx/5xx the API returns.

    {"error": "<code>", "detail": "<plain words>", "errors": {"<field>": ["<reason>", ...]}}

`errors` is present when specific fields or query parameters are at fault.
"""

import logging
from typing import Any

from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def error_body(
    code: str, detail: str, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


class ApiError(exceptions.APIException):
    """An error raised below a view (a parser, a throttle) that must reach the client in the
    API's shape with its own status, code and field errors."""

    def __init__(
        self,
        *,
        status_code: int,
        code: str,
        detail: str,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code
        self.errors = errors


def _flatten(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(k): [str(v) for v in (vals if isinstance(vals, list) else [vals])]
            for k, vals in detail.items()
        }
    return {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away mid-request: the transaction rolled back, so nothing was
        # half-written; tell the client to retry rather than answer a bare 500.
        logger.warning("database unavailable: %s", type(exc).__name__)
        unavailable = Response(
            error_body("service_unavailable", "The database is unavailable; retry shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        unavailable["Retry-After"] = "5"
        return unavailable
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, str(exc.detail), exc.errors)
    elif isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = next(iter(errors.items()), None)
        detail = f"{first[0]}: {first[1][0]}" if first else "Invalid request."
        response.data = error_body("invalid_request", detail, errors)
    elif isinstance(exc, exceptions.Throttled):
        response.data = error_body(
            "rate_limited",
            f"Rate limit exceeded; retry in {exc.wait or 1:.0f} seconds.",  # type: ignore[attr-defined]
        )
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = error_body(str(code), str(exc.detail))
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = "Bearer"
    return response


def server_error(request: HttpRequest) -> JsonResponse:
    """handler500: even an unexpected failure answers in the API's JSON error shape."""
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    """handler400: what Django answers itself (a disallowed Host, a malformed request) in the
    API's JSON error shape instead of its HTML page."""
    if isinstance(exception, DisallowedHost):
        reason = "is not a host this server answers to (ALLOWED_HOSTS)"
        return JsonResponse(
            error_body("invalid_host", f"Host header {reason}.", {"Host": [reason]}), status=400
        )
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    """handler404 for paths outside the API's routes."""
    return JsonResponse(error_body("not_found", "Not found."), status=404)
