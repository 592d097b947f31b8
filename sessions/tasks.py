"""Celery entry points: thin wrappers around the rollup service (ids in, no results out)."""

from datetime import date
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

from sessions.debounce import rollup_marker_clear
from sessions.services import session_rollup_drain

# Transient failures only: a lost connection, a deadlock, a serialization failure
# (all OperationalError) or the broker hiccuping. Anything else is a bug and must surface.
TRANSIENT = (OperationalError, InterfaceError, RedisError)

# Both tasks: redelivered if a worker dies mid-drain (safe: the drain is idempotent), retried
# with backoff on transient errors, no results stored. Time limits are global (settings).
ROLLUP_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": 5,
    "ignore_result": True,
}


@shared_task(name="sessions.rollup", **ROLLUP_TASK_OPTIONS)
def rollup(organization_id: int) -> int:
    # Clear the debounce marker before draining: an event committed from now on schedules a
    # new task, and one committed before is drained by this run.
    rollup_marker_clear(organization_id=organization_id)
    return session_rollup_drain(organization_id=organization_id).events


@shared_task(name="sessions.sweep", **ROLLUP_TASK_OPTIONS)
def sweep() -> int:
    """Beat: roll up anything still pending (e.g. accepted while Redis was down)."""
    return session_rollup_drain().events


@shared_task(name="sessions.reprice", **ROLLUP_TASK_OPTIONS)
def reprice_events(
    organization_id: int,
    model: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> int:
    """Re-price an organization's computed costs (dates as YYYY-MM-DD). A redelivered or
    retried run is safe: chunks already done have nothing left to change."""
    from sessions.reprice import reprice

    return reprice(
        organization_id=organization_id,
        model=model,
        since=date.fromisoformat(since) if since else None,
        until=date.fromisoformat(until) if until else None,
    ).events_changed
