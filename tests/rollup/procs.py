"""Child processes for the concurrency and worker tests: started, read and stopped by handle."""

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from tests.rollup.helpers import database_url_for_subprocess

BASE_DIR = Path(settings.BASE_DIR)

# Run as `python -c SCRIPT ARGS...`: a configured Django in a process of its own.
DJANGO_PRELUDE = "import django, sys, time\ndjango.setup()\n"


def child_env(**extra: str) -> dict[str, str]:
    """This environment, pointed at the test database; Redis only when given explicitly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="infraprism.settings",
        DATABASE_URL=database_url_for_subprocess(),
        REDIS_URL="",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Child:
    """A child process whose stdout lines are collected by a thread, so reads can time out."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            list(argv),
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def python(cls, script: str, *args: str, env: dict[str, str], stdin: bool = False) -> "Child":
        return cls([sys.executable, "-c", DJANGO_PRELUDE + script, *args], env, stdin)

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
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Terminate (then kill) this process if it is still running. Safe to call twice."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)

    def transcript(self) -> str:
        return "".join(self.output)
