"""The processes under test, started as in production: gunicorn and a Celery worker with beat,
on free local ports, stopped (SIGTERM, then SIGKILL) when the block ends."""

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import BIN, REPO, service_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], name: str, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {process.pid}) did not stop in {timeout}s; killing it", flush=True)
        process.kill()
        process.wait(timeout=10)


@dataclass
class Server:
    port: int
    log: Path
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of gunicorn's master and its live workers so far."""
        return sum(_cpu_seconds(pid) for pid in (self.pid, *_children(self.pid)))


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def gunicorn(workers: int = 2, threads: int = 4, **env: str) -> Iterator[Server]:
    """The server as in production: gunicorn, 2 workers x 4 threads, on a free local port."""
    port = free_port()
    logdir = Path(tempfile.mkdtemp(prefix="infraprism-bench-"))
    log = logdir / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "infraprism.wsgi:application",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=REPO,
            env=service_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not become healthy:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(port=port, log=log, pid=process.pid)
    finally:
        _stop(process, "gunicorn")
        shutil.rmtree(logdir, ignore_errors=True)


@contextlib.contextmanager
def celery_worker(concurrency: int = 2) -> Iterator[Path]:
    """A real Celery worker with embedded beat, as `make worker` runs it."""
    logdir = Path(tempfile.mkdtemp(prefix="infraprism-bench-celery-"))
    log = logdir / "celery.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "infraprism",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--schedule",
                str(logdir / "celerybeat-schedule"),
            ],
            cwd=REPO,
            env=service_env(DJANGO_SETTINGS_MODULE="infraprism.settings"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        _stop(process, "celery worker", timeout=30)
        shutil.rmtree(logdir, ignore_errors=True)
