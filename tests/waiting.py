"""Waiting in tests: on a condition, never for a fixed time, except where time itself is what
is tested (fixed rate-limit windows are wall-clock windows)."""

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = ""
) -> Any:
    """Poll until predicate() is truthy; returns its value or fails with `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def sleep_into_fresh_window(period: float, *, min_left: float) -> None:
    """Fixed rate-limit windows start at multiples of `period` seconds of the clock. If fewer
    than `min_left` seconds are left of the current one, sleep into the next, so that a test's
    requests all fall in one window. Sleeping is the point: a window is a span of clock time."""
    left = period - time.time() % period
    if left < min_left:
        time.sleep(left + 0.05)


def sleep_into_next_window(period: float) -> None:
    """Sleep until the next fixed window of `period` seconds has begun (see above)."""
    time.sleep(period - time.time() % period + 0.05)
