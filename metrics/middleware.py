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
        from metrics import definitions

        self.definitions = definitions
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        method = request.method if request.method in _METHODS else "other"
        principal = getattr(request, "infraprism_principal", None)
        org = self.definitions.organization_labels(
            principal.organization.pk if principal is not None else None
        )
        self.definitions.HTTP_REQUESTS.labels(
            route=route, method=method, status=str(response.status_code), **org
        ).inc()
        self.definitions.HTTP_LATENCY.labels(route=route).observe(elapsed)
        return response
