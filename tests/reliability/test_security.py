"""Security: authentication on every endpoint, tenant isolation, keys never logged, constant-time
key comparison, rate limits through a live server with Redis, admin for staff only, production
settings (DEBUG off, `check --deploy` clean)."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import secrets
import subprocess
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from infraprism import keys
from infraprism.models import ApiKey, Organization
from infraprism.services import api_key_create, api_key_revoke
from sessions.services import session_rollup_drain
from tests.factories import event
from tests.reliability import procs
from tests.reliability.conftest import Fleet, Stack, Tenant
from tests.reliability.support import Api, event_count, record
from tests.waiting import sleep_into_fresh_window, sleep_into_next_window, wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]

SECRET_SESSION = "a-secret-session/with%slash"
SECRET_WORDS = ("a-secret-session", "acme-secret-entity", "secret-model-a", "secret-tag-value")


def _secret_events() -> list[dict[str, Any]]:
    return [
        event(
            f"a-{i}",
            session_id=SECRET_SESSION,
            model="secret-model-a",
            entity_type="customer",
            entity_id="acme-secret-entity",
            tags={"feature": "secret-tag-value"},
            timestamp=f"2024-06-01T12:0{i}:00Z",
            cost=0.25,
            input_tokens=100,
        )
        for i in range(3)
    ]


def _session_path(session_id: str, suffix: str = "") -> str:
    from urllib.parse import quote

    return f"/v1/analytics/sessions/{quote(session_id, safe='')}{suffix}"


# (method, path, scope needed)
def _endpoints() -> list[tuple[str, str, str]]:
    return [
        ("POST", "/v1/events", "ingest"),
        ("POST", "/v1/events/batch", "ingest"),
        ("GET", "/v1/analytics/sessions", "read"),
        ("GET", _session_path(SECRET_SESSION), "read"),
        ("GET", _session_path(SECRET_SESSION, "/timeline"), "read"),
        ("GET", "/v1/analytics/session-metrics", "read"),
        ("GET", "/v1/analytics/costs", "read"),
        ("GET", "/v1/analytics/events", "read"),
    ]


def _call(base_url: str, method: str, path: str, authorization: str | None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    body: Any = None
    if path == "/v1/events":
        body = event("probe")
    elif path == "/v1/events/batch":
        body = {"events": [event("probe-batch")]}
    return requests.request(method, base_url + path, json=body, headers=headers, timeout=30)


@pytest.fixture
def two_tenants(live: Stack, make_tenant: Callable[[str], Tenant]) -> tuple[Tenant, Tenant]:
    first, second = make_tenant("acme"), make_tenant("globex")
    response = first.api(live.url).batch(_secret_events())
    assert response.status_code == 202, response.text
    session_rollup_drain()
    return first, second


@pytest.mark.integration
def test_every_endpoint_refuses_missing_wrong_revoked_expired_and_malformed_keys(
    live: Stack, two_tenants: tuple[Tenant, Tenant]
) -> None:
    first, _ = two_tenants
    org = first.org
    revoked_row, revoked = api_key_create(
        organization=org, name="revoked", scopes=["ingest", "read"]
    )
    api_key_revoke(api_key=revoked_row)
    _, expired = api_key_create(
        organization=org,
        name="expired",
        scopes=["ingest", "read"],
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    disabled_org = Organization.objects.create(slug="disabled", name="Disabled", is_active=False)
    _, disabled = api_key_create(organization=disabled_org, name="d", scopes=["ingest", "read"])
    # Same display prefix as a real key, different secret: found by prefix, refused by hash.
    same_prefix = first.key[: keys.DISPLAY_PREFIX_LENGTH] + secrets.token_urlsafe(32)
    basic = base64.b64encode(f"{first.key}:".encode()).decode()
    credentials: dict[str, str | None] = {
        "no key": None,
        "empty header": "",
        "unknown key": f"Bearer {keys.generate_key()}",
        "same prefix, wrong secret": f"Bearer {same_prefix}",
        "revoked key": f"Bearer {revoked}",
        "expired key": f"Bearer {expired}",
        "disabled organization": f"Bearer {disabled}",
        "scheme only": "Bearer",
        "not an ip- key": "Bearer sk-live-abcdefghijklmnopqrstuvwxyz0123456789",
        "short key": "Bearer ip-short",
        "wrong scheme": f"Token {first.key}",
        "basic auth": f"Basic {basic}",
        "key and junk": f"Bearer {first.key} junk",
        "lower-case scheme, key quoted": f'bearer "{first.key}"',
    }
    events_before = event_count(org.pk)
    tried = 0
    for name, authorization in credentials.items():
        for method, path, _scope in _endpoints():
            response = _call(live.url, method, path, authorization)
            tried += 1
            assert response.status_code == 401, (name, method, path, response.status_code)
            assert response.headers.get("WWW-Authenticate") == "Bearer", (name, path)
            assert response.json()["error"], (name, path)
            for word in SECRET_WORDS:
                assert word not in response.text
    assert event_count(org.pk) == events_before, "a refused key stored something"
    record(auth_requests_refused_401=tried)


@pytest.mark.integration
def test_wrong_scope_is_403_and_right_scope_passes(
    live: Stack, two_tenants: tuple[Tenant, Tenant]
) -> None:
    first, _ = two_tenants
    tried = 0
    for method, path, scope in _endpoints():
        wrong = first.read_key if scope == "ingest" else first.ingest_key
        right = first.ingest_key if scope == "ingest" else first.read_key
        response = _call(live.url, method, path, f"Bearer {wrong}")
        assert response.status_code == 403, (method, path, response.status_code, response.text)
        assert "scope" in response.json()["detail"]
        ok = _call(live.url, method, path, f"Bearer {right}")
        assert ok.status_code in (200, 202), (method, path, ok.status_code, ok.text[:300])
        tried += 2
    record(auth_scope_requests=tried)


@pytest.mark.integration
def test_another_tenant_sees_nothing_of_the_first(
    live: Stack, two_tenants: tuple[Tenant, Tenant]
) -> None:
    first, second = two_tenants
    own = first.api(live.url).get(_session_path(SECRET_SESSION))
    assert own.status_code == 200 and own.json()["data"]["turn_count"] == 3

    other = second.api(live.url)
    for suffix in ("", "/timeline"):
        response = other.get(_session_path(SECRET_SESSION, suffix))
        assert response.status_code == 404, (suffix, response.status_code)
    queries = [
        "/v1/analytics/sessions",
        "/v1/analytics/sessions?format=csv",
        "/v1/analytics/sessions?entity_id=acme-secret-entity&entity_type=customer",
        "/v1/analytics/session-metrics?interval=day",
        "/v1/analytics/costs?group_by=session",
        "/v1/analytics/costs?group_by=model&format=csv",
        "/v1/analytics/costs?group_by=tag:feature",
        "/v1/analytics/events",
        "/v1/analytics/events?session_id=a-secret-session%2Fwith%25slash",
    ]
    for path in queries:
        response = other.get(path)
        assert response.status_code == 200, (path, response.status_code)
        for word in SECRET_WORDS:
            assert word not in response.text, (path, word)
    metrics = other.get("/v1/analytics/session-metrics").json()["data"]
    assert metrics["session_count"] == 0 and metrics["total_cost"] == 0

    # The same event_id in another organization is that organization's own, not a duplicate,
    # and changes nothing for the first.
    response = other.batch([{**_secret_events()[0], "session_id": "globex-own"}])
    assert response.json()["duplicates"] == 0
    session_rollup_drain()
    again = first.api(live.url).get(_session_path(SECRET_SESSION)).json()["data"]
    assert again["turn_count"] == 3
    record(tenant_isolation_requests=len(queries) + 4)


# --- Keys never logged ----------------------------------------------------------------------------


def _secret_parts(*plaintexts: str) -> list[str]:
    """What must never appear: the key, and its secret part after the display prefix."""
    return [p for key in plaintexts for p in (key, key[keys.DISPLAY_PREFIX_LENGTH :])]


def _exercise(base_url: str, first: Tenant, bad_keys: list[str]) -> int:
    """A full ingest + read flow with successes and failures of every kind; returns requests."""
    api = first.api(base_url)
    calls: list[Callable[[], Any]] = [
        lambda: api.post("/v1/events", json=event(None, session_id="log-s")),
        lambda: api.batch([event(None, session_id="log-s")] * 3),
        lambda: api.post("/v1/events", json={"model": 1}),
        lambda: api.post("/v1/events", data=b"{not json"),
        lambda: api.post("/v1/events/batch", data=b" " * (5 * 1024 * 1024 + 1)),
        lambda: api.get("/v1/analytics/sessions"),
        lambda: api.get("/v1/analytics/sessions?format=csv"),
        lambda: api.get(_session_path(SECRET_SESSION)),
        lambda: api.get(_session_path(SECRET_SESSION, "/timeline")),
        lambda: api.get(_session_path("missing")),
        lambda: api.get("/v1/analytics/session-metrics?interval=day"),
        lambda: api.get("/v1/analytics/costs?group_by=bogus"),
        lambda: api.get("/v1/analytics/events?limit=0"),
        lambda: Api(base_url, first.ingest_key).get("/v1/analytics/events"),
        lambda: Api(base_url, first.read_key).post("/v1/events", json={"model": "m"}),
    ]
    for call in calls:
        response = call()
        assert response.status_code < 500, response.text[:300]
    for bad in bad_keys:
        for authorization in (f"Bearer {bad}", f"Bearer {bad} trailing", f"Token {bad}"):
            response = requests.get(
                base_url + "/v1/analytics/sessions",
                headers={"Authorization": authorization},
                timeout=10,
            )
            assert response.status_code == 401
    return len(calls) + 3 * len(bad_keys)


def _bad_keys(first: Tenant) -> list[str]:
    revoked_row, revoked = api_key_create(organization=first.org, name="r", scopes=["read"])
    api_key_revoke(api_key=revoked_row)
    _, expired = api_key_create(
        organization=first.org,
        name="e",
        scopes=["read"],
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    return [keys.generate_key(), revoked, expired]


def _log_with(live: Stack, offset: int, text: str) -> str:
    """The server log since `offset` once it holds `text` ("" until then)."""
    log = live.server.proc.log_since(offset)
    return log if text in log else ""


@pytest.mark.integration
def test_keys_never_logged_by_the_live_server(
    live: Stack, two_tenants: tuple[Tenant, Tenant]
) -> None:
    """gunicorn access and error logs plus every application log at DEBUG, across a full flow
    with failures: no key, valid or not, appears in plaintext."""
    first, second = two_tenants
    offset = live.server.proc.log_size()
    bad = _bad_keys(first)
    n = _exercise(live.url, first, bad)
    # It did log (the access log lines land just after the responses).
    logged = "request method=GET path=/v1/analytics/sessions status=200"
    log = wait_until(lambda: _log_with(live, offset, logged), timeout=10, what="the access log")
    for secret in _secret_parts(first.key, first.ingest_key, first.read_key, second.key, *bad):
        assert secret not in log
    record(key_log_requests_live=n)


@pytest.mark.integration
def test_a_key_sent_as_basic_auth_username_is_not_logged(
    live: Stack, make_tenant: Callable[[str], Tenant]
) -> None:
    """Stripe-style `curl -u KEY:` sends the key as a Basic auth username. The API refuses it
    (401), but gunicorn's default access-log format prints the Basic username (%(u)s): the key
    would land in the access log that `make run` and docker-compose write."""
    tenant = make_tenant("basic")
    offset = live.server.proc.log_size()
    response = requests.get(live.url + "/v1/analytics/sessions", auth=(tenant.key, ""), timeout=10)
    assert response.status_code == 401
    log = wait_until(
        lambda: _log_with(live, offset, "/v1/analytics/sessions"), timeout=10, what="the access log"
    )
    for secret in _secret_parts(tenant.key):
        assert secret not in log, "the API key was written to the access log"


@pytest.mark.django_db(transaction=False)
def test_keys_never_logged_in_process_at_debug_with_sql(
    caplog: pytest.LogCaptureFixture,
    make_org: Callable[..., Organization],
    make_key: Callable[..., tuple[ApiKey, str]],
) -> None:
    """The application's own log records (and SQL with its parameters) at DEBUG."""
    org = make_org("logs")
    _, key = make_key(org)
    _, ingest_only = make_key(org, ("ingest",))
    revoked_row, revoked = make_key(org)
    api_key_revoke(api_key=revoked_row)
    unknown = keys.generate_key()
    for name in ("", "django", "django.db.backends", "django.request", "infraprism"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = Client(headers={"Authorization": f"Bearer {key}"})
    json_type = "application/json"
    connection.force_debug_cursor = True
    try:
        client.post("/v1/events", event(None, session_id="x"), json_type)
        client.post("/v1/events", {"model": 5}, json_type)
        client.post("/v1/events/batch", b"{bad", json_type)
        client.get("/v1/analytics/sessions")
        client.get("/v1/analytics/events?limit=abc")
        client.get("/v1/analytics/sessions/x")
        for bad in (unknown, revoked, ingest_only, f"{key} junk"):
            Client(headers={"Authorization": f"Bearer {bad}"}).get("/v1/analytics/sessions")
    finally:
        connection.force_debug_cursor = False
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.__dict__.get('sql', '')} {r.__dict__.get('params', '')}"
        for r in caplog.records
    )
    assert "ingestion_event" in text, "SQL was not captured"
    for secret in _secret_parts(key, ingest_only, revoked, unknown):
        assert secret not in text
    record(key_log_records_in_process=len(caplog.records))


# --- Constant-time comparison ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_key_hashes_are_compared_with_hmac_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
    make_org: Callable[..., Organization],
    make_key: Callable[..., tuple[ApiKey, str]],
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)
    org = make_org("ct")
    row, key = make_key(org)
    client = Client()

    ok = client.get("/v1/analytics/sessions", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert ok.status_code == 200
    assert (row.key_hash.encode(), keys.hash_key(key).encode()) in calls

    calls.clear()
    forged = key[: keys.DISPLAY_PREFIX_LENGTH] + "A" * (len(key) - keys.DISPLAY_PREFIX_LENGTH)
    refused = client.get("/v1/analytics/sessions", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert refused.status_code == 401
    assert (row.key_hash.encode(), keys.hash_key(forged).encode()) in calls
    assert keys.hashes_match(row.key_hash, key) and not keys.hashes_match(row.key_hash, forged)


# --- Rate limits ----------------------------------------------------------------------------------

INGEST_LIMIT, READ_LIMIT, PERIOD = 5, 8, 5


def _burst(call: Callable[[], requests.Response], n: int) -> list[requests.Response]:
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda _: call(), range(n)))


@pytest.mark.integration
def test_rate_limits_hold_per_key_per_window_through_a_live_server(
    fleet: Fleet, make_tenant: Callable[[str], Tenant]
) -> None:
    redis_proc = fleet.redis()
    env = fleet.env(
        redis_proc.extra["url"],
        INGEST_RATE_LIMIT=f"{INGEST_LIMIT}/{PERIOD}s",
        READ_RATE_LIMIT=f"{READ_LIMIT}/{PERIOD}s",
    )
    server = fleet.server(env)  # 2 workers x 4 threads: the count is shared through Redis
    first, second = make_tenant("rl-a"), make_tenant("rl-b")
    api, same_org_other_key, other_org = (
        first.api(server.url),
        Api(server.url, first.ingest_key),
        second.api(server.url),
    )

    def ingest(client: Api) -> Callable[[], requests.Response]:
        return lambda: client.post("/v1/events", json=event(None))

    sleep_into_fresh_window(PERIOD, min_left=3.5)
    ingested = _burst(ingest(api), 14)
    read = _burst(lambda: api.get("/v1/analytics/sessions"), 14)
    assert Counter(r.status_code for r in ingested) == {202: INGEST_LIMIT, 429: 14 - INGEST_LIMIT}
    assert Counter(r.status_code for r in read) == {200: READ_LIMIT, 429: 14 - READ_LIMIT}
    for response in [r for r in ingested + read if r.status_code == 429]:
        assert 1 <= int(response.headers["Retry-After"]) <= PERIOD
        assert response.json()["error"] == "rate_limited"
    # Other keys, of the same organization or another, have their own budgets.
    assert [ingest(same_org_other_key)().status_code for _ in range(INGEST_LIMIT)] == [202] * 5
    assert [ingest(other_org)().status_code for _ in range(INGEST_LIMIT)] == [202] * 5
    assert event_count(first.org.pk) == 2 * INGEST_LIMIT  # refused events were not stored

    # The next window starts afresh.
    sleep_into_next_window(PERIOD)
    assert ingest(api)().status_code == 202

    # Limits fail open when Redis is down: ingestion never stops for want of a counter.
    redis_proc.stop()
    assert [ingest(api)().status_code for _ in range(INGEST_LIMIT + 3)] == [202] * 8
    record(rate_limit_requests=14 + 14 + 10 + 1 + 8)


# --- Admin and production settings ----------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_admin_requires_staff(make_org: Callable[..., Organization]) -> None:
    org = make_org("adm")
    _, key = api_key_create(organization=org, name="k", scopes=["read", "ingest"])
    client = Client()
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 302

    User.objects.create_user("member", password="pw-member-123456")
    assert client.login(username="member", password="pw-member-123456")
    for path in ("/admin/", "/admin/infraprism/apikey/", "/admin/infraprism/organization/"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], path
    client.logout()

    User.objects.create_superuser("root", password="pw-root-123456")
    assert client.login(username="root", password="pw-root-123456")
    listing = client.get("/admin/infraprism/apikey/")
    assert listing.status_code == 200
    row = ApiKey.objects.get(organization=org)
    assert row.prefix in listing.content.decode()
    assert row.key_hash not in listing.content.decode()
    assert key not in listing.content.decode()


def _production_env(database_url: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "SECURE_"))
    }
    env.pop("SILENCED_SYSTEM_CHECKS", None)
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="example.com",
        DATABASE_URL=database_url,
        REDIS_URL="redis://127.0.0.1:6379/0",
        DJANGO_SETTINGS_MODULE="infraprism.settings",
    )
    return env


@pytest.mark.django_db(transaction=False)
def test_debug_is_off_by_default_in_production_settings(database_url: str, live: Stack) -> None:
    out = subprocess.run(
        [procs.PYTHON, "-m", "tests.probes", "settings"],
        cwd=procs.REPO, env=_production_env(database_url), capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    flags = {name: seen[name] for name in ("debug", "session_cookie_secure", "csrf_cookie_secure")}
    assert flags == {"debug": False, "session_cookie_secure": True, "csrf_cookie_secure": True}
    # And the live server answers errors without a debug page.
    response = requests.get(live.url + "/no/such/page", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Traceback" not in response.text and "DEBUG" not in response.text


@pytest.mark.django_db(transaction=False)
def test_check_deploy_is_clean_with_production_settings(database_url: str) -> None:
    out = subprocess.run(
        [procs.PYTHON, "manage.py", "check", "--deploy"],
        cwd=procs.REPO,
        env=_production_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = out.stdout + out.stderr
    assert out.returncode == 0, output
    assert "WARNING" not in output and "?: (" not in output, output
    assert "System check identified no issues" in output, output
