"""A live InfraPrism server for the SDK's tests: gunicorn on PostgreSQL plus a Celery worker
(with embedded beat).

The server runs from the repository's own checkout with the SERVER's virtualenv (the SDK's venv
has no Django): INFRAPRISM_SERVER_DIR (default: the repository root, two levels up) and
INFRAPRISM_SERVER_VENV (default: its .venv). It gets its own database and Redis database:
INFRAPRISM_SDK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/infraprism_sdk_test,
dropped and re-created for every run) and INFRAPRISM_SDK_TEST_REDIS_URL (default
redis://127.0.0.1:6379/12, flushed for every run). Every process is started in its own process
group and only those groups are ever signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

SDK_DIR = Path(__file__).resolve().parents[2]
SERVER_DIR = Path(os.environ.get("INFRAPRISM_SERVER_DIR") or SDK_DIR.parents[1]).resolve()
SERVER_VENV = Path(os.environ.get("INFRAPRISM_SERVER_VENV") or SERVER_DIR / ".venv").resolve()
SERVER_PYTHON = str(SERVER_VENV / "bin" / "python")
DATABASE_URL = os.environ.get(
    "INFRAPRISM_SDK_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/infraprism_sdk_test"
)
REDIS_URL = os.environ.get("INFRAPRISM_SDK_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
LOG_DIR = SDK_DIR / ".test-logs"

try:
    _LIBC: Any = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _LIBC = None


def _die_with_parent() -> None:  # in the child between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def server_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_", "CELERY_", "INFRAPRISM_", "OPENAI_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="infraprism.settings",
        INGEST_RATE_LIMIT="off",
        READ_RATE_LIMIT="off",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def manage(*args: str) -> str:
    """Run manage.py with the server's venv; returns stdout (fails loudly with its output)."""
    done = subprocess.run(
        [SERVER_PYTHON, "manage.py", *args],
        cwd=SERVER_DIR,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _server_python(code: str) -> None:
    subprocess.run([SERVER_PYTHON, "-c", code], cwd=SERVER_DIR, env=server_env(), check=True)


def reset_database_and_redis() -> None:
    """Drop and re-create the SDK tests' database, flush their Redis database."""
    parts = urlsplit(DATABASE_URL)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    _server_python(
        "import psycopg\n"
        f"with psycopg.connect({admin_url!r}, autocommit=True) as conn:\n"
        f"    conn.execute('DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)')\n"
        f"    conn.execute('CREATE DATABASE \"{name}\"')\n"
    )
    _server_python(f"import redis; redis.Redis.from_url({REDIS_URL!r}).flushdb()")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


def spawn(name: str, argv: list[str], env: Mapping[str, str]) -> Proc:
    LOG_DIR.mkdir(exist_ok=True)
    log_path = LOG_DIR / f"{name}-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            argv,
            cwd=SERVER_DIR,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return Proc(name, popen, log_path)


def _wait_ready(proc: Proc, ready: Callable[[], bool], timeout: float = 90) -> None:
    def check() -> bool:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited early:\n{proc.log()[-4000:]}")
        return ready()

    try:
        wait_until(check, timeout=timeout, what=f"{proc.name} to start")
    except BaseException:
        proc.stop()
        raise


@dataclass
class Gunicorn:
    port: int
    env: dict[str, str]
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            SERVER_PYTHON, "-m", "gunicorn", "infraprism.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", "2", "--threads", "4",
            "--access-logfile", "-", "--error-logfile", "-",
        ]  # fmt: skip
        self.proc = spawn(f"gunicorn-{self.port}", argv, self.env)
        _wait_ready(self.proc, self._healthy)

    def _healthy(self) -> bool:
        try:
            return httpx2.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx2.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


def start_worker(env: Mapping[str, str]) -> Proc:
    """The worker with embedded beat, as `make worker` runs it: the server leaves events that
    arrive while a rollup is already queued to beat's sweep."""
    LOG_DIR.mkdir(exist_ok=True)
    argv = [
        SERVER_PYTHON, "-m", "celery", "-A", "infraprism", "worker",
        "--beat", "--schedule", str(LOG_DIR / f"celerybeat-schedule-{time.monotonic_ns()}"),
        "--loglevel", "INFO", "--concurrency", "1",
        "--hostname", f"sdk-{os.getpid()}@%h",
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    proc = spawn("worker", argv, env)
    _wait_ready(proc, lambda: " ready." in proc.log())
    return proc


@dataclass
class LiveServer:
    """The running server, its organization's key (scopes ingest and read) and an Analytics
    API client."""

    gunicorn: Gunicorn
    worker: Proc
    api_key: str
    extra: list[Gunicorn] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.gunicorn.url

    def get(self, path: str, **params: Any) -> Any:
        response = httpx2.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def session(self, session_id: str) -> dict[str, Any]:
        from urllib.parse import quote

        data: dict[str, Any] = self.get(f"/v1/analytics/sessions/{quote(session_id, safe='')}")[
            "data"
        ]
        return data

    def wait_for_session(
        self, session_id: str, *, turns: int, timeout: float = 60
    ) -> dict[str, Any]:
        """The session once its rollup shows `turns` calls (the worker rolls up asynchronously)."""
        from urllib.parse import quote

        def rolled_up() -> dict[str, Any] | None:
            response = httpx2.get(
                f"{self.url}/v1/analytics/sessions/{quote(session_id, safe='')}",
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=10,
            )
            if response.status_code != 200:
                return None
            data: dict[str, Any] = response.json()["data"]
            return data if data["turn_count"] >= turns else None

        found: dict[str, Any] = wait_until(
            rolled_up, timeout=timeout, what=f"session {session_id} with {turns} turns"
        )
        return found

    def stop(self) -> None:
        for server in self.extra:
            server.stop()
        self.gunicorn.stop()
        self.worker.stop()


def start_live_server() -> LiveServer:
    if not Path(SERVER_PYTHON).exists():
        raise AssertionError(
            f"the server's virtualenv is missing ({SERVER_PYTHON}): run `make test` at the "
            "repository root, or set INFRAPRISM_SERVER_VENV"
        )
    shutil.rmtree(LOG_DIR, ignore_errors=True)  # keep only this run's server logs
    reset_database_and_redis()
    manage("migrate", "--noinput")
    manage("create_org", "sdk-test", "--name", "SDK tests")
    key = manage("create_api_key", "sdk-test", "--name", "sdk", "--scopes", "ingest,read")
    api_key = key.strip().splitlines()[-1].strip()
    env = server_env()
    worker = start_worker(env)
    gunicorn = Gunicorn(port=free_port(), env=env)
    try:
        gunicorn.start()
    except BaseException:
        worker.stop()
        raise
    return LiveServer(gunicorn=gunicorn, worker=worker, api_key=api_key)
