"""The test suite's one subprocess harness: our own Redis, gunicorn, Celery workers and beat
(log to a file: spawn/Proc), and Python children whose output lines a test waits for (Child).

Every process is started in its own session (process group), so stopping it also stops its
children (gunicorn workers, the Celery pool), and only what these helpers started is ever
signalled. Children started from the main thread also get PR_SET_PDEATHSIG, so nothing outlives
a test run that is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from tests.waiting import wait_until

# The checkout whose code the servers run: this one, or another (to try a fix against the suite).
REPO = Path(os.environ.get("RELIABILITY_APP_DIR") or Path(__file__).resolve().parents[2])
PYTHON = sys.executable

try:
    _LIBC: Any = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _LIBC = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    def children(self) -> list[int]:
        """Pids of the direct children of this process (e.g. the Celery pool)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command may contain spaces and parentheses: fields follow the last ')'.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.pid:
                found.append(int(entry.name))
        return found

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group this helper created (leader and children)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        stop_all([self], timeout=timeout)


def stop_all(started: list[Proc], timeout: float = 15) -> None:
    """SIGTERM every group at once, then wait; SIGKILL whatever is left after `timeout`."""
    for proc in started:
        if proc.alive():
            proc.kill_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in started:
        try:
            proc.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill_group(signal.SIGKILL)
            proc.popen.wait(10)
        # Children left behind by a leader that died first (e.g. after SIGKILL of the leader).
        proc.kill_group(signal.SIGKILL)


def spawn(name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            argv,
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # PR_SET_PDEATHSIG fires when the spawning *thread* ends: only from the main thread.
            preexec_fn=_die_with_parent
            if threading.current_thread() is threading.main_thread()
            else None,
        )
    return Proc(name=name, popen=popen, log_path=log_path)


def _started(proc: Proc, check: Callable[[], bool], timeout: float) -> None:
    proc.extra["ready"] = check
    wait_ready(proc, timeout=timeout)


def wait_ready(*started: Proc, timeout: float = 90) -> None:
    """Wait until every process passes its readiness check; stop them all if one fails."""
    pending = list(started)

    def ready() -> bool:
        for proc in list(pending):
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited early:\n{proc.log()[-4000:]}")
            if proc.extra["ready"]():
                pending.remove(proc)
        return not pending

    try:
        wait_until(ready, timeout=timeout, interval=0.1, what="processes to start")
    except BaseException as exc:
        logs = "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in pending)
        for proc in started:
            proc.stop()
        raise AssertionError(f"{exc}\n{logs}") from None


# --- Redis ------------------------------------------------------------------------------------


def start_redis(log_dir: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    argv = [
        "redis-server",
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip
    proc = spawn(f"redis-{port}", argv, os.environ, log_dir)
    proc.extra["port"] = port
    proc.extra["url"] = f"redis://127.0.0.1:{port}/0"

    def pong() -> bool:
        try:
            return bool(redis.Redis(port=port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    _started(proc, pong, timeout=15)
    return proc


# --- Environment of the services ------------------------------------------------------------


def service_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a web, worker or beat process pointed at the test database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_", "CELERY_")) and k not in ("DATABASE_URL",)
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="infraprism.settings",
        INGEST_RATE_LIMIT="off",
        READ_RATE_LIMIT="off",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    env.update(overrides)
    return env


# --- gunicorn (the `make run` configuration: 2 sync workers with 4 threads each) -------------


@dataclass
class Server:
    proc: Proc
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.stop()


def make_run_gunicorn_args() -> list[str]:
    """The gunicorn configuration `make run` and docker-compose serve with, so that these tests
    follow the configuration users actually run."""
    return ["-c", str(REPO / "gunicorn.conf.py")]


def start_gunicorn(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    log_level: str | None = None,
    extra_args: tuple[str, ...] = (),
    wait: bool = True,
) -> Server:
    port = free_port()
    args = make_run_gunicorn_args()
    if log_level is not None:
        if "--log-level" in args:
            del args[args.index("--log-level") : args.index("--log-level") + 2]
        args += ["--log-level", log_level]
    argv = [
        PYTHON, "-m", "gunicorn", "infraprism.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        *args,
        *extra_args,
    ]  # fmt: skip
    proc = spawn(f"gunicorn-{port}", argv, env, log_dir)

    def healthy() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    proc.extra["ready"] = healthy
    if wait:
        wait_ready(proc)
    return Server(proc=proc, port=port)


# --- Celery -----------------------------------------------------------------------------------


def start_worker(
    env: Mapping[str, str], log_dir: Path, *, name: str, concurrency: int = 1, wait: bool = True
) -> Proc:
    argv = [
        PYTHON, "-m", "celery", "-A", "infraprism", "worker",
        "--loglevel", "INFO",
        "--concurrency", str(concurrency),
        "--hostname", f"{name}@%h",
        # Cluster chatter only (no effect on task delivery); skipping it saves a second a start.
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    proc = spawn(f"worker-{name}", argv, env, log_dir)
    proc.extra["ready"] = lambda: " ready." in proc.log()
    if wait:
        wait_ready(proc)
    return proc


def start_beat(env: Mapping[str, str], log_dir: Path, *, wait: bool = True) -> Proc:
    schedule = log_dir / f"celerybeat-schedule-{time.monotonic_ns()}"
    argv = [
        PYTHON, "-m", "celery", "-A", "infraprism", "beat",
        "--loglevel", "INFO",
        "--schedule", str(schedule),
    ]  # fmt: skip
    proc = spawn("beat", argv, env, log_dir)
    proc.extra["ready"] = lambda: "beat: Starting" in proc.log()
    if wait:
        wait_ready(proc)
    return proc


@contextmanager
def running(*procs: Proc | Server) -> Iterator[None]:
    """Stop the given processes on the way out, whatever happens."""
    try:
        yield
    finally:
        for proc in reversed(procs):
            proc.stop()


# --- Children read line by line (rollup concurrency and worker tests) -------------------------


def manage(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """`manage.py args...` in a fresh process with `env`: its stdout, or fail with its stderr."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


class Child:
    """A process whose output lines are collected by a thread as they come, so a test can wait
    for a line with a timeout, and optionally write to its stdin. Started like spawn(): in its
    own process group, dying with the test run."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            list(argv),
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent
            if threading.current_thread() is threading.main_thread()
            else None,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def module(cls, name: str, *args: str, env: Mapping[str, str], stdin: bool = False) -> Child:
        """`python -m name args...`: a checked module of the test suite, not a script string."""
        return cls([PYTHON, "-m", name, *args], env, stdin)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The first new line matching the regex `pattern`; fails with the output on timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
                if re.search(pattern, line):
                    return line
        except queue.Empty:
            raise AssertionError(
                f"no line matching {pattern!r} within {timeout}s; output:\n{self.transcript()}"
            ) from None

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def finish(self, timeout: float) -> int:
        """Wait for a normal exit; returns the exit code."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up, no rollback from the client side, as in a worker crash."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Terminate (then kill) this process group if it is still running. Safe to call twice."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)

    def transcript(self) -> str:
        return "".join(self.output)
