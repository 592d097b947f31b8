"""Cross-tenant isolation, generated from the URLconf: every route served by a TenantViewSet
(every /v1/analytics endpoint, the budgets, alerts and webhooks routes, and any tenant route
added later) gets these tests without anyone writing them.

Two organizations hold look-alike data; each string of the victim's carries the marker
"victim" and each of its costs a number only it has. For every GET route, the attacker's
answers (JSON and, where the view renders it,
CSV; with each grouping and ordering the view accepts; filtered on the victim's own ids)
contain no marker, and a route with a session id or an object id in its path is a 404 for the
victim's session or object.
"""

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from analytics import selectors
from analytics.renderers import CSVRenderer
from budgets.evaluation import budgets_evaluate_organization
from budgets.models import Budget, WebhookDelivery, WebhookEndpoint
from budgets.services import budget_create, endpoint_create
from infraprism.viewsets import TenantViewSet
from tests.analytics.helpers import ingest
from tests.factories import event

MARKER = "victim"
# The victim's calls cost 1001.25 and 1002.25 (the attacker's 1.25 and 2.25): numbers that show
# up only if the victim's rows were counted, for answers that hold no strings (metrics).
LEAKS = (MARKER, "1001.25", "1002.25", "2003.5")
# Query variants by parameter name, tried where the view accepts the parameter.
VARIANTS: dict[str, list[str]] = {
    "group_by": [*selectors.COST_GROUPS, "tag:feature", "tag:victim-key"],
    "order_by": list(selectors.SESSION_ORDERINGS),
    "interval": ["day"],
}
VICTIM_FILTERS = {
    "entity_id": f"{MARKER}-entity",
    "session_id": f"{MARKER}-session",
    "tag": f"feature:{MARKER}-feature",
    "model": f"{MARKER}-model",
}


# Tenant name -> organization slug, and the victim's webhook-ids: filled by `tenants`.
TENANT_SLUGS: dict[str, str] = {}
VICTIM_IDS: list[str] = []


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def tenant_get_routes() -> list[tuple[str, type[TenantViewSet], str]]:
    """(route, view class, action) for every GET action of a tenant viewset."""
    found = []
    for route, callback in _routes(get_resolver().url_patterns):
        view_class = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None) or {}
        if view_class and issubclass(view_class, TenantViewSet) and "get" in actions:
            found.append((route, view_class, actions["get"]))
    return found


ROUTES = tenant_get_routes()


def test_the_generator_finds_every_analytics_route() -> None:
    routes = {route for route, _, _ in ROUTES}
    assert {
        "v1/analytics/sessions",
        "v1/analytics/sessions/<path:session_id>",
        "v1/analytics/sessions/<path:session_id>/timeline",
        "v1/analytics/session-metrics",
        "v1/analytics/costs",
        "v1/analytics/events",
    } <= routes, routes


# Routes with an object id: the model whose rows the id names, found by the route's prefix.
OBJECT_ROUTES: dict[str, type[Budget] | type[WebhookEndpoint]] = {
    "v1/budgets/<int:pk>": Budget,
    "v1/webhooks/<int:pk>": WebhookEndpoint,
}


def _object_model(route: str) -> type[Budget] | type[WebhookEndpoint] | None:
    return next((m for prefix, m in OBJECT_ROUTES.items() if route.startswith(prefix)), None)


def _path(route: str, who: str) -> str:
    """The route for `who`'s own session or object."""
    path = re.sub(r"<(?:\w+:)?session_id>", f"{who}-session", route)
    model = _object_model(route)
    if model is not None:
        pk = model.objects.get(organization__slug=TENANT_SLUGS[who]).pk
        path = re.sub(r"<int:pk>", str(pk), path)
    assert "<" not in path, f"no test value for a path parameter of {route}"
    return "/" + path


def _queries(view_class: type[TenantViewSet]) -> list[dict[str, str]]:
    accepted = set(getattr(view_class, "extra_params", ()))
    filters = getattr(view_class, "filterset_class", None)
    if filters is not None:
        accepted |= set(filters.base_filters)
    queries: list[dict[str, str]] = [{}]
    for name, values in VARIANTS.items():
        if name in accepted:
            queries += [{name: value} for value in values]
    queries += [{name: value} for name, value in VICTIM_FILTERS.items() if name in accepted]
    if CSVRenderer in getattr(view_class, "renderer_classes", ()):
        queries += [{**q, "format": "csv"} for q in list(queries)]
    return queries


@pytest.fixture
def tenants(client: Any, other_client: Any, rollup: Callable[[], Any]) -> tuple[Any, Any]:
    """acme is the victim, globex the attacker; globex has a session of its own with the same
    shape, so empty answers are not mistaken for isolation."""

    def calls(who: str) -> list[dict[str, Any]]:
        return [
            event(timestamp=f"2025-01-0{day}T10:00:00Z", model=f"{who}-model",
                  provider=f"{who}-provider", session_id=f"{who}-session",
                  entity_type=f"{who}-type", entity_id=f"{who}-entity",
                  cost=(1000 if who == MARKER else 0) + 0.25 + day,
                  tags={"feature": f"{who}-feature", f"{who}-key": f"{who}-value"})
            for day in (1, 2)
        ]  # fmt: skip

    ingest(client, calls(MARKER))
    ingest(other_client, calls("attacker"))
    rollup()
    for who, tenant in ((MARKER, client), ("attacker", other_client)):
        TENANT_SLUGS[who] = tenant.organization.slug
        # A rolling window long enough to hold the 2025 calls: each tenant's budget is crossed,
        # so alerts and webhook deliveries exist on both sides.
        budget_create(organization=tenant.organization, name=f"{who}-budget", scope="entity",
                      entity_type=f"{who}-type", entity_id=f"{who}-entity", period="rolling",
                      window_hours=24 * 366 * 10, limit=1)  # fmt: skip
        endpoint_create(organization=tenant.organization, url=f"https://{who}.example.com/hook")
        budgets_evaluate_organization(organization_id=tenant.organization.pk)
    # Deliveries carry no names: the victim's webhook-ids are what must not leak.
    VICTIM_IDS[:] = WebhookDelivery.objects.filter(organization=client.organization).values_list(
        "message_id", flat=True
    )
    assert VICTIM_IDS, "the victim's budget crossed and queued deliveries"
    return client, other_client


@pytest.mark.parametrize(
    ("route", "view_class", "action"), ROUTES, ids=[route for route, _, _ in ROUTES]
)
def test_route_never_answers_with_another_tenants_data(
    tenants: tuple[Any, Any], route: str, view_class: type[TenantViewSet], action: str
) -> None:
    victim, attacker = tenants
    names_a_row = "session_id>" in route or _object_model(route) is not None
    for query in _queries(view_class):
        if names_a_row:
            answer = attacker.get(_path(route, MARKER), query)
            assert answer.status_code == 404, (route, query, answer.content[:500])
        own = attacker.get(_path(route, "attacker"), query)
        assert own.status_code == 200, (route, query, own.content[:500])
        leaks = (*LEAKS, *VICTIM_IDS)
        leaked = [leak for leak in leaks if leak in _text(own)]
        assert not leaked, (route, query, leaked, _text(own)[:1000])
        # The victim's own request shows the same markers: the check above can fail.
        mine = _text(victim.get(_path(route, MARKER), query))
        assert any(leak in mine for leak in leaks), (route, query, mine[:1000])


def _text(response: Any) -> str:
    content = getattr(response, "streaming_content", None)
    raw = b"".join(content) if content is not None else response.content
    return str(raw.decode("utf-8"))
