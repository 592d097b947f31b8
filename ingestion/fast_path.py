"""POST /v1/events without the framework: a middleware that answers the common case itself.

Most of a single event's server time was the stack around it, not the insert
(docs/performance.md, "Ingest: single events"): eleven middleware and DRF's dispatch cost
more CPU than validation, pricing and the write together. This middleware sits right after
the body-size check. For a request that will certainly be accepted (a valid key with the
ingest scope, an allowed host, a body that decodes into the schema's struct and passes
validation, room in the rate limit) it stores the event and answers 202 itself. Anything else,
including every error, goes down the normal stack, which answers exactly as before; so no
status code, error body or header is written twice.

The 202's headers (security headers, CSP, X-Frame-Options, DRF's Allow) are copied from the
first 202 the normal stack gave in this process, per scheme (HSTS is https-only), and forgotten
on a settings change. Until then every request takes the normal path.
"""

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from infraprism.errors import ApiError
from infraprism.middleware import log_request
from infraprism.models import ApiKey
from infraprism.principal import ApiKeyPrincipal
from infraprism.ratelimit import IngestRateThrottle
from infraprism.renderers import dumps
from infraprism.selectors import api_key_for_plaintext
from infraprism.services import api_key_touch
from ingestion.body import read_body
from ingestion.parsers import decode
from ingestion.schema import EventIn, event_decoder
from ingestion.services import events_accept, events_validate
from ingestion.views import EventViewSet

EVENTS_PATH = "/v1/events"

# Accept headers DRF's content negotiation answers with JSON; any other goes the normal way.
_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})
# Headers of the normal stack's 202, by request.is_secure().
_learned: dict[bool, list[tuple[str, str]]] = {}


def _forget_headers(**kwargs: Any) -> None:
    _learned.clear()


setting_changed.connect(_forget_headers)


def _api_key(request: HttpRequest) -> ApiKey | None:
    """The key, if the normal stack would authenticate it and grant the ingest scope."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    api_key = api_key_for_plaintext(parts[1])
    if (
        api_key is None
        or api_key.is_revoked
        or api_key.is_expired(timezone.now())
        or not api_key.organization.is_active
        or not ApiKeyPrincipal(api_key).has_scope(ApiKey.SCOPE_INGEST)
    ):
        return None
    return api_key


def _event(request: HttpRequest) -> EventIn | None:
    """The body as the schema's struct, or None when the normal parser has something to say."""
    try:
        body = read_body(
            io.BytesIO(request.body),
            content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
        )
        item = decode(body, event_decoder) if body else None
    except (ApiError, RequestDataTooBig):
        return None
    return item if isinstance(item, EventIn) else None


class SingleEventFastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.serves: bool | None = None

    def _serves_events(self) -> bool:
        """Whether EVENTS_PATH is the single-event view in this URLconf (not in __init__: the
        URLconf may not load yet)."""
        if self.serves is None:
            try:
                view = resolve(EVENTS_PATH).func
            except Resolver404:
                view = None
            self.serves = (
                getattr(view, "cls", None) is EventViewSet
                and getattr(view, "actions", {}).get("post") == "create"
            )
        return self.serves

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method != "POST"
            or request.path_info != EVENTS_PATH
            or not self._serves_events()
        ):
            return self.get_response(request)
        started = time.perf_counter()
        response = self._answer(request) if settings.INGEST_FAST_PATH else None
        if response is None:
            response = self.get_response(request)
            if response.status_code == 202 and not response.cookies:
                _learned.setdefault(
                    request.is_secure(),
                    [(k, v) for k, v in response.items() if k.lower() != "content-length"],
                )
            return response
        log_request(request, response.status_code, (time.perf_counter() - started) * 1000)
        return response

    def _answer(self, request: HttpRequest) -> HttpResponse | None:
        """The 202 for a request certain to be accepted, else None (nothing was stored)."""
        headers = _learned.get(request.is_secure())
        if headers is None or request.META.get("HTTP_ACCEPT", "") not in _JSON_ACCEPTS:
            return None
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return None
        try:
            request.get_host()  # CommonMiddleware's ALLOWED_HOSTS check
        except DisallowedHost:
            return None
        api_key = _api_key(request)
        if api_key is None:
            return None
        api_key_touch(api_key=api_key)  # as authentication does, whatever follows
        principal = ApiKeyPrincipal(api_key)
        request.infraprism_principal = principal  # type: ignore[attr-defined]
        item = _event(request)
        if item is None:
            return None
        now = datetime.now(UTC)
        result = events_validate(items=[item], now=now)
        # Last, as it counts the request: a refused one is counted again by the normal stack,
        # which is harmless past the limit.
        if result.errors or not IngestRateThrottle().allow_principal(principal):
            return None
        result = events_accept(organization_id=api_key.organization_id, result=result, now=now)
        event_id = result.valid[0].event_id
        response = HttpResponse(
            dumps({"event_id": event_id, "duplicate": event_id not in result.new_event_ids}),
            status=202,
        )
        for name, value in headers:
            response[name] = value
        response["Content-Length"] = str(len(response.content))  # as CommonMiddleware sets it
        return response
