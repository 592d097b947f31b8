"""GET /metrics: the Prometheus text format. 404 unless METRICS_ENABLED; with METRICS_TOKEN
set it needs `Authorization: Bearer <METRICS_TOKEN>`."""

import hmac
import os
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from infraprism.errors import error_body, not_found
from metrics.multiproc import ENV_NAME

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


@cache
def _registry() -> "CollectorRegistry":
    from prometheus_client import REGISTRY, CollectorRegistry, Metric, multiprocess
    from prometheus_client.registry import Collector

    from metrics import definitions  # noqa: F401 - defines the metrics in this process
    from metrics.collectors import RollupQueueCollector

    registry = CollectorRegistry()
    if os.environ.get(ENV_NAME):
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (tests in-process, `manage.py runserver`): its own values

        class _ThisProcess(Collector):
            def collect(self) -> Iterable[Metric]:
                return REGISTRY.collect()

        registry.register(_ThisProcess())
    registry.register(RollupQueueCollector())
    return registry


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


@csrf_exempt  # no cookies, no forms: a POST gets the JSON 405 below, not a CSRF page
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        return not_found(request, Exception())
    if request.method not in ("GET", "HEAD"):
        answer = JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'),
            status=405,
        )
        answer["Allow"] = "GET, HEAD"
        return answer
    if not _authorized(request):
        answer = JsonResponse(
            error_body("not_authenticated", "Send Authorization: Bearer <METRICS_TOKEN>."),
            status=401,
        )
        answer["WWW-Authenticate"] = "Bearer"
        return answer
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
