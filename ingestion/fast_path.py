"""POST /v1/events without the framework: a WSGI wrapper that answers the common case itself.

Most of a single event's server time was the stack around it, not the insert
(docs/performance.md, "Ingest: single events"): Django's request handling (request and response
objects, the request_started/finished signals), eleven middleware and DRF's dispatch cost more
CPU than validation, pricing and the write together. This wrapper sits around Django's WSGI
application (infraprism/wsgi.py). For a request that will certainly be accepted (a valid key
with the ingest scope, an allowed host, a body within the size limit that decodes into the
schema's struct and passes validation, room in the rate limit) it stores the event and answers
202 itself. Anything else, including every error, goes to Django unchanged (the body already
read is handed back), which answers exactly as before; so no status code, error body or header
is written twice.

The 202's headers (security headers, CSP, X-Frame-Options, DRF's Allow) are copied from the
first 202 Django gave for this path in this process, per scheme (HSTS is https-only), and
forgotten on a settings change. Until then every request goes to Django. What the skipped
layers did for such a request is done here: the request log line, the request metrics, the
body-size check, and the end-of-request check of the database connection's age and health.
"""

import io
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.client import responses
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.db import connection
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
from metrics.middleware import count_request

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# status, headers, body
Answer = tuple[int, list[tuple[str, str]], bytes]

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


def _status_line(status: int) -> str:
    return f"{status} {responses[status]}"


class SingleEventFastPath:
    """WSGI application: `app` (Django's) with POST EVENTS_PATH answered here when it can be."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
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

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or environ.get("PATH_INFO") != EVENTS_PATH
            or not self._serves_events()
        ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        request = WSGIRequest(environ)
        answer = None
        if settings.INGEST_FAST_PATH and not settings.DEBUG:
            try:
                answer = _answer(request)
            except Exception as exc:  # noqa: BLE001 - answered as Django answers a view's error
                answer = _from_response(response_for_exception(request, exc))
        if answer is None:
            if hasattr(request, "_body"):  # read here: Django reads it again
                environ["wsgi.input"] = io.BytesIO(request._body)
            return self.app(environ, _learning(request.is_secure(), start_response))
        status, headers, body = answer
        start_response(_status_line(status), headers)
        elapsed = time.perf_counter() - started
        log_request(request, status, elapsed * 1000)
        count_request(request, status, elapsed)
        # What request_finished does for the one connection this path used (not inside a
        # caller's transaction: a test's, as Django's test client also skips it).
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
        return [body]


def _learning(secure: bool, start_response: StartResponse) -> StartResponse:
    """start_response, remembering the headers of Django's first 202 for this scheme."""

    def learn(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if status.startswith("202 ") and not any(k.lower() == "set-cookie" for k, _ in headers):
            _learned.setdefault(
                secure, [(k, v) for k, v in headers if k.lower() != "content-length"]
            )
        return start_response(status, headers, exc_info)

    return learn


def _from_response(response: HttpResponse) -> Answer:
    headers = [*response.items()]
    headers += [("Set-Cookie", c.output(header="")) for c in response.cookies.values()]
    return response.status_code, headers, response.content


def _answer(request: HttpRequest) -> Answer | None:
    """The 202 for a request certain to be accepted, else None (nothing was stored)."""
    headers = _learned.get(request.is_secure())
    if headers is None or request.META.get("HTTP_ACCEPT", "") not in _JSON_ACCEPTS:
        return None
    if settings.SECURE_SSL_REDIRECT and not request.is_secure():
        return None
    if not _within_body_limit(request.META):
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
    body = dumps({"event_id": event_id, "duplicate": event_id not in result.new_event_ids})
    return 202, [*headers, ("Content-Length", str(len(body)))], body


def _within_body_limit(meta: dict[str, Any]) -> bool:
    """What BodySizeLimitMiddleware lets through without an answer of its own."""
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return False
    try:
        return int(meta.get("CONTENT_LENGTH") or 0) <= settings.MAX_BODY_BYTES
    except ValueError:
        return False
