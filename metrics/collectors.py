"""Rollup queue depth and freshness lag, read from the database when Prometheus scrapes.

Gauges kept by the processes themselves would be wrong under several workers (each knows only
its own part); the queue table knows the truth. Two small queries: a count, and the oldest
queued row (lowest id) joined to its event's `received_at`.
"""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingestion.models import Event
from sessions.models import PendingRollup

logger = logging.getLogger(__name__)


class RollupQueueCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth = PendingRollup.objects.count()
            oldest_event_pk = (
                PendingRollup.objects.order_by("id").values_list("event_pk", flat=True).first()
            )
            received_at = (
                Event.objects.filter(pk=oldest_event_pk)
                .values_list("received_at", flat=True)
                .first()
                if oldest_event_pk is not None
                else None
            )
        except DatabaseError as exc:
            # A scrape must not fail with the database: the series go missing instead, which
            # the alert rules treat as "absent" (docs/ops/alerts.yml).
            logger.warning("metrics: rollup queue not readable: %s", type(exc).__name__)
            return
        yield GaugeMetricFamily(
            "infraprism_rollup_queue_depth",
            "Events stored but not yet folded into their session aggregates.",
            value=depth,
        )
        age = (datetime.now(UTC) - received_at).total_seconds() if received_at else 0.0
        yield GaugeMetricFamily(
            "infraprism_rollup_oldest_pending_age_seconds",
            "Age of the oldest event waiting for the rollup, from when it was received "
            "(the freshness lag of session aggregates); 0 when nothing is pending.",
            value=max(age, 0.0),
        )
