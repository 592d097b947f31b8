"""Rollup scheduling off the request thread, for group-committed ingests.

Scheduling a rollup is a Redis `SET NX` (sessions.scheduling) after every ingest that queued
work: a round trip per request, paid while the client waits. Here the committing thread only
notes the organization; one thread per process makes the calls, and every organization noted
while it was busy is scheduled once on its next pass. A lost call (the process exits first) is
what the beat sweep already covers, as for a Redis outage.

Passes are at least PASS_INTERVAL_SECONDS apart. A kick after a quiet spell goes out at once;
under load the organizations noted during the interval wait for its end (at most that long),
and go out together. Without the interval the thread woke for nearly every request and made
its Redis call each time, which measured 200 us of CPU per single-event request, a third of
the request (docs/performance.md, round 6).

The embedded in-process rollup (ROLLUP_IN_PROCESS) keeps running in the request, where its
callers expect it.
"""

import logging
import os
import threading
import time

from django.conf import settings
from django.db import transaction

from sessions.scheduling import rollup_schedule, rollup_schedule_on_commit

logger = logging.getLogger(__name__)

# The least time between two passes: a rollup is scheduled at most this much later than its
# ingest committed (the freshness target is 2 s).
PASS_INTERVAL_SECONDS = 0.05


class _Kicker:
    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._organizations: set[int] = set()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def note(self, organization_id: int) -> None:
        with self._cv:
            self._organizations.add(organization_id)
            # A forked worker inherits the object but not the thread.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="rollup-kick", daemon=True)
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._organizations:
                    self._cv.wait()
                organizations, self._organizations = self._organizations, set()
            for organization_id in sorted(organizations):
                try:
                    rollup_schedule(organization_id=organization_id)
                except Exception:  # the sweep covers it; the thread must live on
                    logger.exception(
                        "scheduling the rollup of organization %s failed", organization_id
                    )
            time.sleep(PASS_INTERVAL_SECONDS)  # what is noted meanwhile goes in the next pass


_kicker = _Kicker()


def rollup_kick_on_commit(*, organization_id: int) -> None:
    """Schedule the organization's rollup after the current transaction commits, from the
    background thread (in the request when the rollup runs in-process)."""
    if settings.ROLLUP_IN_PROCESS:
        rollup_schedule_on_commit(organization_id=organization_id)
        return
    transaction.on_commit(lambda: _kicker.note(organization_id))
