"""Issue 10 item 11 and the throttles of issue 11: rate limits hold across gunicorn workers
without Redis (PostgreSQL and embedded SQLite), a malformed rate stops the process at start-up,
and the throttles count per principal."""

import multiprocessing
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection

from infraprism.checks import rate_limit_settings_check
from infraprism.permissions import HasIngestScope, HasReadScope
from infraprism.principal import ApiKeyPrincipal
from infraprism.ratelimit import ReadRateThrottle
from infraprism.services import api_key_create, organization_create
from infraprism.sqlite_cache import SQLiteFileCache
from tests.reliability import procs
from tests.waiting import sleep_into_fresh_window, wait_until

LIMIT = 10
DAY = 86_400


# --- the shared counter store ---------------------------------------------------------------


def _count_up(path: str, key: str, times: int) -> None:
    cache = SQLiteFileCache(path, {})
    for _ in range(times):
        cache.add(key, 0, timeout=600)
        cache.incr(key)


def test_the_file_cache_counts_exactly_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.sqlite3")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_count_up, args=(path, "hits", 150)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert SQLiteFileCache(path, {}).get("hits") == 600


def test_the_file_cache_keeps_the_expiry_on_incr(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    cache = SQLiteFileCache(str(path), {})
    assert cache.add("window", 0, timeout=30)
    assert not cache.add("window", 5, timeout=30)

    def expiry() -> float:
        with sqlite3.connect(path) as db:
            value: float = db.execute("SELECT expires FROM entries").fetchone()[0]
            return value

    before = expiry()
    assert cache.incr("window") == 1
    assert cache.incr("window", 2) == 3
    assert expiry() == before
    # An expired entry is gone for get/incr, and add() may take its place.
    cache.set("old", 7, timeout=-1)
    assert cache.get("old") is None
    with pytest.raises(ValueError):
        cache.incr("old")
    assert cache.add("old", 1, timeout=30)
    cache.set("thing", {"a": [1, 2]})
    assert cache.get("thing") == {"a": [1, 2]}
    with pytest.raises(ValueError):
        cache.incr("thing")


# --- live servers, two workers, no Redis ----------------------------------------------------


def _test_database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}{port}/{s['NAME']}"


def _env(database_url: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    settings = {
        "READ_RATE_LIMIT": f"{LIMIT}/day",
        "CACHE_FILE": str(tmp_path / "cache.sqlite3"),
        "GUNICORN_WORKERS": "2",
        **overrides,
    }
    return procs.service_env(database_url, "", **settings)  # no Redis: the case under test


def _hammer(url: str, key: str, count: int) -> list[requests.Response]:
    """`count` reads, each on a new connection, 6 at a time, so both workers take some."""

    def one(_: int) -> requests.Response:
        return requests.get(
            f"{url}/v1/analytics/sessions",
            headers={"Authorization": f"Bearer {key}", "Connection": "close"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(one, range(count)))


def _assert_limit_holds_across_workers(server: procs.Server, key: str) -> None:
    sleep_into_fresh_window(DAY, min_left=120)
    responses = _hammer(server.url, key, 4 * LIMIT)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * LIMIT + [429] * (3 * LIMIT), statuses
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"] == "rate_limited"
    log = server.proc.log().splitlines()
    served_by = {line.split()[0] for line in log if line.startswith("pid=")}
    assert len(served_by) == 2, f"one worker took every request, which proves nothing: {served_by}"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def _start(env: dict[str, str], log_dir: Path) -> procs.Server:
    # The worker's pid on each access-log line tells which worker answered.
    return procs.start_gunicorn(env, log_dir, extra_args=("--access-logformat", "pid=%(p)s %(s)s"))


@pytest.mark.integration
def test_read_limit_holds_across_two_workers_on_postgresql_without_redis(
    transactional_db: None, tmp_path: Path, log_dir: Path
) -> None:
    org = organization_create(slug="rl-pg", name="RL")
    _, key = api_key_create(organization=org, name="k", scopes=["read"])
    server = _start(_env(_test_database_url(), tmp_path), log_dir)
    with procs.running(server):
        _assert_limit_holds_across_workers(server, key)


@pytest.fixture
def sqlite_key(tmp_path: Path) -> tuple[str, str]:
    """An embedded SQLite database with one organization and a read key, made by the operator
    commands."""
    url = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    env = _env(url, tmp_path)
    procs.manage(env, "migrate", "--noinput", "-v", "0")
    procs.manage(env, "create_org", "rl-sqlite")
    key = procs.manage(env, "create_api_key", "rl-sqlite", "--name", "k", "--scopes", "read")
    return url, key.strip().splitlines()[-1]


@pytest.mark.integration
def test_read_limit_holds_across_two_workers_on_embedded_sqlite(
    tmp_path: Path, log_dir: Path, sqlite_key: tuple[str, str]
) -> None:
    url, key = sqlite_key
    server = _start(_env(url, tmp_path), log_dir)
    with procs.running(server):
        _assert_limit_holds_across_workers(server, key)


# --- malformed rates stop the process at start-up -------------------------------------------


BAD_RATES = ["banana", "10/fortnight", "10", "/min", "10/0min", "-1/min", "10 per minute"]


@pytest.mark.parametrize("variable", ["INGEST_RATE_LIMIT", "READ_RATE_LIMIT"])
@pytest.mark.parametrize("rate", BAD_RATES)
def test_manage_py_refuses_a_malformed_rate(variable: str, rate: str, tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, **{variable: rate})
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, cwd=procs.REPO, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"{variable} is malformed" in done.stderr, done.stderr[-2000:]


@pytest.mark.integration
def test_gunicorn_refuses_to_start_with_a_malformed_rate(tmp_path: Path, log_dir: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, READ_RATE_LIMIT="12/fortnight")
    server = procs.start_gunicorn(env, log_dir, wait=False)
    with procs.running(server):
        wait_until(lambda: not server.proc.alive(), timeout=60, what="gunicorn to give up")
    assert server.proc.popen.returncode != 0
    assert "READ_RATE_LIMIT is malformed" in server.proc.log()


@pytest.mark.parametrize("rate", ["6000/min", "100/10s", "5/h", "off", "OFF", " 7 / 2 day "])
def test_good_rates_pass_the_check(rate: str, settings: Any) -> None:
    settings.INGEST_RATE_LIMIT = rate
    settings.READ_RATE_LIMIT = rate
    assert rate_limit_settings_check() == []


# --- the throttle counts per principal ------------------------------------------------------


class _Member:
    """Any principal: the throttle asks for its rate_key, never for the credential's type."""

    is_authenticated = True
    rate_key = "user:42"
    log_label = "org=x user=42"
    organization = None

    def has_scope(self, scope: str) -> bool:
        return True


class _Request:
    def __init__(self, user: Any) -> None:
        self.user = user


@pytest.mark.django_db
def test_throttle_keys_on_the_principal(org: Any, make_key: Callable[..., Any]) -> None:
    api_key, _ = make_key(org)
    throttle = ReadRateThrottle()
    key_of = throttle.get_cache_key
    assert key_of(_Request(_Member()), None) == "rl:read:user:42"  # type: ignore[arg-type]
    principal = ApiKeyPrincipal(api_key)
    assert key_of(_Request(principal), None) == f"rl:read:key:{api_key.pk}"  # type: ignore[arg-type]
    assert key_of(_Request(None), None) is None  # type: ignore[arg-type]


class _Reader(_Member):
    def has_scope(self, scope: str) -> bool:
        return scope == "read"


def test_permissions_ask_the_principal_for_its_scopes() -> None:
    """Any principal (a member, not only an API key) is let in by its own has_scope."""
    reader = _Request(_Reader())
    assert HasReadScope().has_permission(reader, None)  # type: ignore[arg-type]
    assert not HasIngestScope().has_permission(reader, None)  # type: ignore[arg-type]
    assert not HasReadScope().has_permission(_Request(None), None)  # type: ignore[arg-type]
