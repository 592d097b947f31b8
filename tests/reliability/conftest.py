"""Reliability and security suite: real Redis, gunicorn, Celery worker and beat processes.

Soak tests (`@pytest.mark.soak`) are skipped unless the `-m` expression selects them because of
that marker (`make soak` runs `pytest -m soak tests/reliability`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _pytest.mark.expression import Expression
from django.db import connection

from infraprism.models import ApiKey, Organization
from infraprism.services import api_key_create, organization_create
from tests.reliability import procs
from tests.reliability.support import FIGURES, Api


def _selected_by_soak(item: pytest.Item) -> bool:
    markexpr = item.config.getoption("markexpr", "") or ""
    if not markexpr.strip():
        return False
    names = {mark.name for mark in item.iter_markers()}
    expr = Expression.compile(markexpr)

    def matcher(present: set[str]) -> Callable[..., bool]:
        return lambda name, /, **kwargs: name in present

    return expr.evaluate(matcher(names)) and not expr.evaluate(matcher(names - {"soak"}))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("soak") is not None and not _selected_by_soak(item):
        pytest.skip("soak test: run with `-m soak` (make soak)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
    if path := os.environ.get("RELIABILITY_FIGURES_FILE"):
        Path(path).write_text(json.dumps(dict(sorted(FIGURES.items())), indent=2) + "\n")


# --- Processes --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-logs")


@pytest.fixture(scope="session")
def database_url(django_db_setup: None) -> str:
    """The test database (not the configured one) as a URL for subprocesses."""
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s["PORT"] else ""
    assert str(s["NAME"]).startswith("test_"), s["NAME"]
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


@dataclass
class Stack:
    redis: procs.Proc
    env: dict[str, str]
    log_dir: Path
    _server: procs.Server | None = None

    @property
    def server(self) -> procs.Server:
        assert self._server is not None
        return self._server

    @property
    def url(self) -> str:
        return self.server.url

    @contextmanager
    def redis_down(self) -> Iterator[None]:
        """Stop this stack's Redis; it comes back (empty) on the same port on the way out."""
        port = self.redis.extra["port"]
        self.redis.stop()
        try:
            yield
        finally:
            self.redis = procs.start_redis(self.log_dir, port)


@pytest.fixture(scope="session")
def live(database_url: str, log_dir: Path) -> Iterator[Stack]:
    """One gunicorn (the `make run` shape: 2 workers x 4 threads, access log on) with its own
    Redis and rate limits off, shared by the tests. No worker runs unless a test starts one.
    Everything logs at DEBUG, so that the key-leak test reads the most a server can log."""
    redis_proc = procs.start_redis(log_dir)
    env = procs.service_env(database_url, redis_proc.extra["url"], LOG_LEVEL="DEBUG")
    stack = Stack(redis=redis_proc, env=env, log_dir=log_dir)
    try:
        stack._server = procs.start_gunicorn(env, log_dir, log_level="debug")
        yield stack
    finally:
        procs.stop_all([p.proc for p in (stack._server,) if p] + [stack.redis])


# --- Tenants ------------------------------------------------------------------------------------


@dataclass
class Tenant:
    org: Organization
    key: str  # ingest + read
    ingest_key: str
    read_key: str

    def api(self, base_url: str, key: str | None = None) -> Api:
        return Api(base_url, key or self.key)


@pytest.fixture
def make_tenant(transactional_db: None) -> Callable[[str], Tenant]:
    def make(slug: str) -> Tenant:
        org = organization_create(slug=slug, name=slug.title())

        def key(*scopes: str) -> str:
            return api_key_create(organization=org, name="-".join(scopes), scopes=list(scopes))[1]

        return Tenant(
            org=org,
            key=key(ApiKey.SCOPE_INGEST, ApiKey.SCOPE_READ),
            ingest_key=key(ApiKey.SCOPE_INGEST),
            read_key=key(ApiKey.SCOPE_READ),
        )

    return make


class Fleet:
    """The processes one test starts; all stopped when the test ends, whatever happened."""

    def __init__(self, log_dir: Path, database_url: str) -> None:
        self.log_dir = log_dir
        self.database_url = database_url
        self.procs: list[procs.Proc | procs.Server] = []

    def redis(self, port: int | None = None) -> procs.Proc:
        proc = procs.start_redis(self.log_dir, port)
        self.procs.append(proc)
        return proc

    def env(self, redis_url: str, **overrides: str) -> dict[str, str]:
        return procs.service_env(self.database_url, redis_url, **overrides)

    def server(self, env: dict[str, str], **kwargs: Any) -> procs.Server:
        server = procs.start_gunicorn(env, self.log_dir, **kwargs)
        self.procs.append(server)
        return server

    def worker(self, env: dict[str, str], name: str, **kwargs: Any) -> procs.Proc:
        proc = procs.start_worker(env, self.log_dir, name=name, **kwargs)
        self.procs.append(proc)
        return proc

    def beat(self, env: dict[str, str], **kwargs: Any) -> procs.Proc:
        proc = procs.start_beat(env, self.log_dir, **kwargs)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        started = [p.proc if isinstance(p, procs.Server) else p for p in self.procs]
        self.procs.clear()
        procs.stop_all(started)


@pytest.fixture
def fleet(transactional_db: None, database_url: str, log_dir: Path) -> Iterator[Fleet]:
    # Requests transactional_db so that every process is stopped before the database is flushed.
    group = Fleet(log_dir, database_url)
    try:
        yield group
    finally:
        group.stop_all()
