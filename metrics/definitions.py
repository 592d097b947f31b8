"""Every metric the service exports. Import only through metrics.hooks and the other modules
here, after settings have run (see metrics/__init__.py).

No `organization` label unless METRICS_ORGANIZATION_LABEL is on: with thousands of tenants
it would multiply every series by the number of organizations. When on, it is added to the
request and ingestion counters only (never to the latency histogram), as the organization's
numeric id.
"""

from django.conf import settings
from prometheus_client import Counter, Histogram

ORGANIZATION_LABEL = "organization"
_org: list[str] = [ORGANIZATION_LABEL] if settings.METRICS_ORGANIZATION_LABEL else []

HTTP_REQUESTS = Counter(
    "infraprism_http_requests",
    "HTTP requests by URL route (the pattern, never the raw path), method and status.",
    ["route", "method", "status", *_org],
)
HTTP_LATENCY = Histogram(
    "infraprism_http_request_duration_seconds",
    "Time from the request entering Django to the response leaving it, by URL route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
INGEST_EVENTS = Counter(
    "infraprism_ingest_events",
    "Events received by ingestion (API and OTLP): accepted (new, stored), duplicate "
    "(event_id seen before; changes nothing) or rejected (invalid). The three add up to the "
    "events received.",
    ["outcome", *_org],
)
OTEL_SPANS = Counter(
    "infraprism_otel_spans",
    "OTLP spans received: event (a GenAI span stored as an event, new or duplicate), "
    "ignored (not a GenAI span) or rejected (a GenAI span that could not be stored).",
    ["outcome", *_org],
)
ROLLUP_EVENTS = Counter(
    "infraprism_rollup_events",
    "Events folded into session aggregates (rate() of it: rollup events per second).",
)
ROLLUP_SESSIONS = Counter(
    "infraprism_rollup_sessions",
    "Session aggregate upserts by the rollup (rate() of it: sessions per second).",
)
CELERY_TASK_FAILURES = Counter(
    "infraprism_celery_task_failures",
    "Celery tasks that failed (raised, after any retries), by task name.",
    ["task"],
)
CELERY_TASK_RETRIES = Counter(
    "infraprism_celery_task_retries",
    "Celery task retries (a transient error, retried with backoff), by task name.",
    ["task"],
)
WEBHOOK_DELIVERIES = Counter(
    "infraprism_webhook_deliveries",
    "Budget alert webhook deliveries by outcome (delivered, failed, gave_up). Defined ahead "
    "of budgets and webhooks, which will count here.",
    ["outcome"],
)


def organization_labels(organization_id: int | None) -> dict[str, str]:
    if not _org:
        return {}
    return {ORGANIZATION_LABEL: "" if organization_id is None else str(organization_id)}
