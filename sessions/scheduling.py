"""Scheduling a rollup after an ingest commits.

Embedded mode runs the rollup in-process. Otherwise a Redis `SET NX EX` marker per
organization (sessions.debounce) lets one task through per burst; the task clears the marker
when it starts. Redis or broker trouble is logged and never fails the ingest: the events are
durable and pending, and the beat sweep rolls them up.
"""

import logging

from django.conf import settings
from django.db import transaction

from infraprism.redis_client import mark_redis_down
from sessions.debounce import rollup_marker_set
from sessions.services import session_rollup_drain
from sessions.tasks import rollup

logger = logging.getLogger(__name__)


def rollup_schedule(*, organization_id: int) -> None:
    if settings.ROLLUP_IN_PROCESS:
        try:
            session_rollup_drain(organization_id=organization_id)
        except Exception:
            logger.exception("in-process rollup failed; events stay pending")
        return
    if not rollup_marker_set(organization_id=organization_id):
        return  # a rollup for this organization is already queued, or Redis is down
    try:
        rollup.apply_async(args=(organization_id,), retry=False)
    except Exception as exc:  # noqa: BLE001 - kombu errors: the sweep covers us
        mark_redis_down(exc)


def rollup_schedule_on_commit(*, organization_id: int) -> None:
    transaction.on_commit(lambda: rollup_schedule(organization_id=organization_id))
