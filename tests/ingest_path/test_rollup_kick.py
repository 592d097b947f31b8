"""The rollup kicker (ingestion/rollup_kick.py): organizations noted by committing requests are
scheduled from one background thread, at once after a quiet spell, and coalesced under load:
what is noted during the pause after a pass goes out once, in the next pass, and nothing
noted is lost.

The thread's pause is replaced by one the test releases, so every step is deterministic.
"""

import threading
from typing import Any

import pytest

from ingestion import rollup_kick
from tests.waiting import wait_until


class _Pause:
    """Stands in for time.sleep in the kicker: records the pause, then waits for release()."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log
        self.gate = threading.Event()

    def sleep(self, seconds: float) -> None:
        self.log.append(("pause", seconds))
        assert self.gate.wait(timeout=30), "the test never released the pause"
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def kicker(monkeypatch: pytest.MonkeyPatch) -> Any:
    log: list[tuple[str, Any]] = []
    pause = _Pause(log)
    monkeypatch.setattr(rollup_kick, "time", pause)
    monkeypatch.setattr(
        rollup_kick,
        "rollup_schedule",
        lambda *, organization_id: log.append(("schedule", organization_id)),
    )
    kicker = rollup_kick._Kicker()
    yield kicker, log, pause
    pause.gate.set()  # let the daemon thread run on instead of waiting out its timeout


def _scheduled(log: list[tuple[str, Any]]) -> list[Any]:
    return [value for kind, value in log if kind == "schedule"]


def test_a_quiet_kicker_schedules_at_once_then_pauses(kicker: Any) -> None:
    k, log, _pause = kicker
    k.note(7)
    wait_until(lambda: len(log) >= 2, timeout=10, what="a pass and its pause")
    assert log[:2] == [("schedule", 7), ("pause", rollup_kick.PASS_INTERVAL_SECONDS)]


def test_notes_during_the_pause_go_out_once_each_in_the_next_pass(kicker: Any) -> None:
    k, log, pause = kicker
    k.note(1)
    wait_until(lambda: ("pause", rollup_kick.PASS_INTERVAL_SECONDS) in log, timeout=10)
    for organization_id in (3, 2, 3, 1, 2):  # a burst of requests from three organizations
        k.note(organization_id)
    assert _scheduled(log) == [1]  # the thread is in its pause: nothing more went out yet
    pause.release()
    wait_until(lambda: len(_scheduled(log)) >= 4, timeout=10, what="the second pass")
    assert _scheduled(log) == [1, 1, 2, 3]


def test_a_failed_call_does_not_stop_the_thread(
    kicker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    k, log, pause = kicker

    def schedule(*, organization_id: int) -> None:
        if organization_id == 1:
            raise ConnectionError("redis is down")
        log.append(("schedule", organization_id))

    monkeypatch.setattr(rollup_kick, "rollup_schedule", schedule)
    k.note(5)
    wait_until(lambda: log.count(("pause", rollup_kick.PASS_INTERVAL_SECONDS)) == 1, timeout=10)
    k.note(1)
    k.note(2)
    pause.release()  # one pass: 1 fails, then 2
    wait_until(lambda: log.count(("pause", rollup_kick.PASS_INTERVAL_SECONDS)) == 2, timeout=10)
    assert _scheduled(log) == [5, 2]  # the failure of 1 did not cost 2 its call
    pause.release()
    k.note(3)
    wait_until(lambda: 3 in _scheduled(log), timeout=10, what="a pass after the failure")
