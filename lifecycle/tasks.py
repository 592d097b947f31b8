"""Beat tasks of the data lifecycle: thin wrappers (no arguments, counts in the log)."""

from typing import Any

from celery import shared_task

from lifecycle import partitions, retention
from sessions.tasks import TRANSIENT

# Both are idempotent (re-running resumes where a killed run stopped), so a lost worker's task
# is simply redelivered. Retention may run long on a first pass over years of data: it gets
# an hour rather than the global time limit.
_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "max_retries": 3,
    "ignore_result": True,
}


@shared_task(name="lifecycle.partitions", **_OPTIONS)
def maintain_partitions() -> None:
    """Daily: partitions for this month and the next MONTHS_AHEAD; DEFAULT rows moved out."""
    partitions.maintain()


@shared_task(name="lifecycle.retention", soft_time_limit=3300, time_limit=3600, **_OPTIONS)
def apply_retention() -> int:
    """Nightly: remove raw events and sessions past each organization's retention."""
    return retention.run(pause=0.05).events_total
