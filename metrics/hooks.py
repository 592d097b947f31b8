"""The calls the rest of the code makes to count things; each is a no-op unless
METRICS_ENABLED, so the hot paths pay one settings lookup when metrics are off."""

from django.conf import settings


def events_counted(*, organization_id: int, accepted: int, duplicates: int, rejected: int) -> None:
    """Ingestion's outcome for one request: `accepted` counts new events only."""
    if not settings.METRICS_ENABLED:
        return
    from metrics.definitions import INGEST_EVENTS, organization_labels

    org = organization_labels(organization_id)
    for outcome, count in (
        ("accepted", accepted),
        ("duplicate", duplicates),
        ("rejected", rejected),
    ):
        if count:
            INGEST_EVENTS.labels(outcome=outcome, **org).inc(count)


def otel_spans_counted(*, organization_id: int, events: int, ignored: int, rejected: int) -> None:
    if not settings.METRICS_ENABLED:
        return
    from metrics.definitions import OTEL_SPANS, organization_labels

    org = organization_labels(organization_id)
    for outcome, count in (("event", events), ("ignored", ignored), ("rejected", rejected)):
        if count:
            OTEL_SPANS.labels(outcome=outcome, **org).inc(count)


def rollup_counted(*, events: int, sessions: int) -> None:
    if not settings.METRICS_ENABLED:
        return
    from metrics.definitions import ROLLUP_EVENTS, ROLLUP_SESSIONS

    ROLLUP_EVENTS.inc(events)
    ROLLUP_SESSIONS.inc(sessions)
