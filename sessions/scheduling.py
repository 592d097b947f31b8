"""Scheduling a rollup after an ingest commits.

Embedded mode runs the rollup in-process. Otherwise a Redis `SET NX EX` marker per
organization lets one task through per burst; the task clears the marker when it starts.
Redis or broker trouble is logged and never fails the ingest: the events are durable and
pending, and the beat sweep rolls them up.
"""

import logging

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from infraprism.redis_client import get_redis, mark_redis_down

logger = logging.getLogger(__name__)


def _marker(organization_id: int) -> str:
    return f"rollup:scheduled:{organization_id}"


def rollup_marker_clear(*, organization_id: int) -> None:
    client = get_redis()
    if client is None:
        return
    try:
        client.delete(_marker(organization_id))
    except RedisError as exc:
        mark_redis_down(exc)


def rollup_schedule(*, organization_id: int) -> None:
    if settings.ROLLUP_IN_PROCESS:
        from sessions.services import session_rollup_drain

        try:
            session_rollup_drain(organization_id=organization_id)
        except Exception:
            logger.exception("in-process rollup failed; events stay pending")
        return
    client = get_redis()
    if client is None:
        return  # Redis recently down: leave it to the sweep
    try:
        if not client.set(
            _marker(organization_id), 1, nx=True, ex=settings.ROLLUP_DEBOUNCE_SECONDS
        ):
            return  # a rollup for this organization is already queued
        from sessions.tasks import rollup

        rollup.apply_async(args=(organization_id,), retry=False)
    except Exception as exc:  # noqa: BLE001 - Redis or kombu errors: the sweep covers us
        mark_redis_down(exc)


def rollup_schedule_on_commit(*, organization_id: int) -> None:
    transaction.on_commit(lambda: rollup_schedule(organization_id=organization_id))
