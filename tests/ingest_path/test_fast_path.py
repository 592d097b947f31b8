"""POST /v1/events answers the same with and without the fast path (ingestion/fast_path.py):
status, body and every header, for accepted events and for each way a request goes wrong.

Each case is sent twice with the same event ids, to two organizations: once with
INGEST_FAST_PATH on, once off, so the bodies (duplicate flags included) must be identical.
"""

import gzip
import io
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from infraprism.models import Organization
from infraprism.services import api_key_revoke
from infraprism.wsgi import application
from ingestion import fast_path
from ingestion.models import Event
from ingestion.views import EventViewSet
from tests.conftest import KeyClient
from tests.factories import event
from tests.ingest_helpers import EVENTS

GOOD = {"cost": 0.001, "session_id": "s-1", "entity_type": "customer", "entity_id": "c-1"}


def _json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode()


# name -> (body, extra headers); sent in this order to one client per mode.
CASES: list[tuple[str, bytes, dict[str, str]]] = [
    ("new event", _json(event("fp-1", **GOOD)), {}),
    ("same event again: duplicate", _json(event("fp-1", **GOOD)), {}),
    ("priced by the server", _json(event("fp-2", session_id="s-2")), {}),
    ("no session", _json(event("fp-3", cost=0.5)), {}),
    ("gzip body", gzip.compress(_json(event("fp-4", **GOOD))), {"HTTP_CONTENT_ENCODING": "gzip"}),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + _json(event("fp-5", **GOOD)), {}),
    ("Accept: */*", _json(event("fp-6", **GOOD)), {"HTTP_ACCEPT": "*/*"}),
    ("Accept: text/html", _json(event("fp-7", **GOOD)), {"HTTP_ACCEPT": "text/html"}),
    ("invalid field", _json(event("fp-8", input_tokens=-1)), {}),
    ("unknown field", _json(event("fp-9", colour="red")), {}),
    ("not JSON", b"{nope", {}),
    ("a list", b"[]", {}),
    ("empty body", b"", {}),
    ("duplicate key", b'{"event_id": "fp-10", "model": "a", "model": "b"}', {}),
    ("deflate", _json(event("fp-11")), {"HTTP_CONTENT_ENCODING": "deflate"}),
    ("future timestamp", _json(event("fp-12", timestamp="2999-01-01T00:00:00Z")), {}),
    # Answered by the body-size middleware, before DRF.
    ("chunked", _json(event("fp-13", **GOOD)), {"HTTP_TRANSFER_ENCODING": "chunked"}),
    ("over the size limit", _json(event("fp-14", **GOOD)), {"CONTENT_LENGTH": "999999999"}),
]
ACCEPTED_CASES = 7
MIDDLEWARE_CASES = 2


class WsgiAnswer:
    """What a WSGI server got back: status, headers in order, body."""

    def __init__(self, status: str, headers: list[tuple[str, str]], content: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.status = status
        self.headers = headers
        self.content = content

    def items(self) -> list[tuple[str, str]]:
        return list(self.headers)

    def __getitem__(self, name: str) -> str:
        return next(v for k, v in self.headers if k.lower() == name.lower())

    def json(self) -> Any:
        return json.loads(self.content)


def _send(client: KeyClient, body: bytes, headers: dict[str, str]) -> WsgiAnswer:
    """POST the body to the service's WSGI application, the one gunicorn serves (the test
    client would call Django's handler and miss the fast path in front of it)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": EVENTS,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {client.key}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **headers,
    }
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> None:
        started.append((status, response_headers))

    # As Django's test client does: the test's transaction keeps its connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    status, response_headers = started[-1]
    return WsgiAnswer(status, response_headers, content)


def _answers(client: KeyClient) -> list[tuple[str, int, bytes, list[tuple[str, str]]]]:
    out = []
    for name, body, headers in CASES:
        response = _send(client, body, headers)
        out.append((name, response.status_code, response.content, sorted(response.items())))
    return out


@pytest.fixture
def two_clients(
    make_org: Callable[..., Organization], client_for: Callable[..., KeyClient]
) -> tuple[KeyClient, KeyClient]:
    return client_for(make_org("fast")), client_for(make_org("slow"))


@pytest.fixture
def views_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests DRF dispatched (by the start of their body): none when the fast path
    answered."""
    calls: list[str] = []
    original = EventViewSet.dispatch

    def dispatch(self: EventViewSet, request: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(request.body[:40].decode("latin-1"))
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(EventViewSet, "dispatch", dispatch)
    return calls


def test_every_case_answers_the_same_with_and_without_the_fast_path(
    two_clients: tuple[KeyClient, KeyClient], settings: Any, views_run: list[str]
) -> None:
    fast, slow = two_clients
    settings.INGEST_FAST_PATH = False
    expected = _answers(slow)
    settings.INGEST_FAST_PATH = True
    _send(fast, _json(event("warm-up", **GOOD)), {})  # the first 202 teaches the headers
    views_run.clear()
    got = _answers(fast)
    for want, have in zip(expected, got, strict=True):
        assert have == want, want[0]
    # The fast path answered the accepted events; the normal stack every other case.
    assert len(views_run) == len(CASES) - ACCEPTED_CASES - MIDDLEWARE_CASES, views_run
    assert [status for _, status, _, _ in got].count(202) == ACCEPTED_CASES
    fast_rows = Event.objects.filter(organization=fast.organization).exclude(event_id="warm-up")
    slow_rows = Event.objects.filter(organization=slow.organization)
    columns = ("event_id", "cost_nanos", "cost_source", "session_id", "model", "tags")
    assert sorted(fast_rows.values_list(*columns)) == sorted(slow_rows.values_list(*columns))


def test_the_first_request_takes_the_normal_stack(
    client: KeyClient, settings: Any, views_run: list[str]
) -> None:
    settings.INGEST_FAST_PATH = True
    fast_path._learned.clear()
    for number in range(3):
        assert _send(client, _json(event(f"first-{number}", **GOOD)), {}).status_code == 202
    assert len(views_run) == 1, views_run


def test_a_revoked_key_is_refused_at_once(
    client: KeyClient, settings: Any, views_run: list[str]
) -> None:
    settings.INGEST_FAST_PATH = True
    assert _send(client, _json(event("r-1", **GOOD)), {}).status_code == 202
    api_key_revoke(api_key=client.organization.api_keys.get())
    response = _send(client, _json(event("r-2", **GOOD)), {})
    assert response.status_code == 401, response.content
    assert not Event.objects.filter(event_id="r-2").exists()


def test_a_read_only_key_gets_the_403(
    org: Organization, client_for: Callable[..., KeyClient], settings: Any
) -> None:
    settings.INGEST_FAST_PATH = True
    ingest = client_for(org)
    assert _send(ingest, _json(event("w-1", **GOOD)), {}).status_code == 202
    reader = client_for(org, scopes=("read",))
    response = _send(reader, _json(event("w-2", **GOOD)), {})
    assert response.status_code == 403, response.content
    assert not Event.objects.filter(event_id="w-2").exists()


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "normal stack"])
def test_rate_limit_is_the_same_either_way(fast: bool, client: KeyClient, settings: Any) -> None:
    cache.clear()  # windows counted by earlier runs (key ids repeat after a flush)
    settings.INGEST_FAST_PATH = fast
    settings.INGEST_RATE_LIMIT = "3/hour"
    # One 202 first, so the fast path knows its headers (it does not count the warm-up twice).
    statuses = [
        _send(client, _json(event(f"rl-{fast}-{n}", **GOOD)), {}).status_code for n in range(6)
    ]
    assert statuses == [202, 202, 202, 429, 429, 429]
    refused = _send(client, _json(event("rl-last", **GOOD)), {})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused.json()["error"] == "rate_limited"
    # An invalid body is not counted twice: the limit answers before validation, as before.
    assert Event.objects.filter(organization=client.organization).count() == 3


def test_an_error_while_storing_is_answered_as_django_answers_it(
    client: KeyClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.INGEST_FAST_PATH = True
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    assert _send(client, _json(event("e-1", **GOOD)), {}).status_code == 202

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(fast_path, "events_accept", broken)
    response = _send(client, _json(event("e-2", **GOOD)), {})
    assert response.status_code == 500
    assert b"the database went away" not in response.content
    assert not Event.objects.filter(event_id="e-2").exists()
