"""Requests by route and status, and their latency by route.

The route is the URL pattern that served the request (`/v1/analytics/sessions/<str:session_id>`),
never the raw path, so ids in paths cannot blow up the number of series. A request that no
pattern matches is `unmatched`. First in MIDDLEWARE, so it also sees the answers of the other
middleware (413 from the body limit, 401 on dashboards).
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:  # answered before URL resolution (a middleware): resolve it here
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    return "/" + str(match.route)


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.METRICS_ENABLED:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        count_request(request, response.status_code, time.perf_counter() - started)
        return response


def count_request(request: HttpRequest, status: int, elapsed: float) -> None:
    """One answered request (also called by ingestion/fast_path.py, which answers before
    Django's middleware run)."""
    if not settings.METRICS_ENABLED:
        return
    from metrics import definitions

    route = route_of(request)
    method = request.method if request.method in _METHODS else "other"
    principal = getattr(request, "infraprism_principal", None)
    org = definitions.organization_labels(
        principal.organization.pk if principal is not None else None
    )
    definitions.HTTP_REQUESTS.labels(route=route, method=method, status=str(status), **org).inc()
    definitions.HTTP_LATENCY.labels(route=route).observe(elapsed)
