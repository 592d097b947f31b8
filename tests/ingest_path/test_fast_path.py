"""POST /v1/events answers the same with and without the fast path (ingestion/fast_path.py):
status, body and every header, for accepted events and for each way a request goes wrong.

Each case is sent twice with the same event ids, to two organizations: once with
INGEST_FAST_PATH on, once off, so the bodies (duplicate flags included) must be identical.
"""

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from infraprism.models import Organization
from infraprism.services import api_key_revoke
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
]


def _send(client: KeyClient, body: bytes, headers: dict[str, str]) -> Any:
    send: Any = client.generic  # the stubs want str data; Django sends bytes as they are
    return send("POST", EVENTS, body, content_type="application/json", **headers)


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
    assert len(views_run) == len(CASES) - 7, views_run
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
