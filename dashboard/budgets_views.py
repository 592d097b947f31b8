"""The Budgets page: owners and admins manage budgets and webhook endpoints and see the alerts
and deliveries; a disabled endpoint is announced at the top. Input is validated by the same
serializers as the API (budgets.serializers), so the page and the API refuse the same things.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from budgets import selectors, services
from budgets.deliveries import delivery_create_test
from budgets.models import Budget, WebhookDelivery, WebhookEndpoint
from budgets.params import MAX_ID
from budgets.serializers import BudgetIn, WebhookIn
from dashboard.access import principal_of_request
from dashboard.pages import error_messages, org_page
from dashboard.responses import not_found
from dashboard.views.keys import manage_required
from infraprism.models import Organization, validate_time_zone

BUDGET_FIELDS = (
    "name", "scope", "entity_type", "entity_id", "tag", "model", "period", "window_hours",
    "limit",
)  # fmt: skip
RECENT = 20


def _budget_input(post: Any) -> dict[str, Any]:
    """Form fields -> the API's body: empty fields left out, thresholds comma-separated."""
    data = {name: post.get(name, "") for name in BUDGET_FIELDS if post.get(name, "").strip()}
    thresholds = [t.strip() for t in post.get("thresholds", "").split(",") if t.strip()]
    if thresholds:
        data["thresholds"] = thresholds
    return data


def _page(request: HttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    org = principal_of_request(request).organization
    budgets = Budget.objects.filter(organization_id=org.pk).order_by("name", "pk")
    endpoints = WebhookEndpoint.objects.filter(organization_id=org.pk).order_by("pk")
    context = {
        "statuses": [selectors.budget_status(b, time_zone=org.time_zone) for b in budgets],
        "endpoints": endpoints,
        "disabled": [e for e in endpoints if not e.enabled and e.disabled_reason],
        "alerts": [
            selectors.alert_item(a)
            for a in selectors.alert_list(organization_id=org.pk).order_by("-created_at", "-pk")[
                :RECENT
            ]
        ],
        "deliveries": WebhookDelivery.objects.filter(organization_id=org.pk)
        .select_related("endpoint")
        .order_by("-created_at", "-pk")[:RECENT],
        "form": request.POST if status == 400 else {},
        "scope_choices": Budget.Scope.values,
        "period_choices": Budget.Period.values,
        **extra,
    }
    return org_page(request, "dashboard/budgets.html", "budgets", context, status)


@never_cache
@manage_required
def budgets_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    serializer = BudgetIn(data=_budget_input(request.POST))
    if not serializer.is_valid():
        return _page(request, status=400, budget_errors=error_messages(serializer.errors))
    services.budget_create(
        organization=principal_of_request(request).organization, **serializer.validated_data
    )
    return redirect("org:budgets", org_slug=org_slug)


def _posted_id(request: HttpRequest, name: str) -> int | None:
    raw = request.POST.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID else None


@require_POST
@manage_required
def budget_delete(request: HttpRequest, org_slug: str) -> HttpResponse:
    org = principal_of_request(request).organization
    pk = _posted_id(request, "budget_id")
    deleted = Budget.objects.filter(organization_id=org.pk, pk=pk).delete()[0] if pk else 0
    return redirect("org:budgets", org_slug=org_slug) if deleted else not_found(request)


@never_cache
@require_POST
@manage_required
def webhook_create(request: HttpRequest, org_slug: str) -> HttpResponse:
    serializer = WebhookIn(data={"url": request.POST.get("url", "")})
    if not serializer.is_valid():
        return _page(request, status=400, webhook_errors=error_messages(serializer.errors))
    endpoint = services.endpoint_create(
        organization=principal_of_request(request).organization, **serializer.validated_data
    )
    # Shown in this response only (never stored in the session, never redirected to).
    return _page(request, created_endpoint=endpoint)


@require_POST
@manage_required
def webhook_action(request: HttpRequest, org_slug: str) -> HttpResponse:
    org = principal_of_request(request).organization
    pk = _posted_id(request, "webhook_id")
    endpoint = WebhookEndpoint.objects.filter(organization_id=org.pk, pk=pk).first() if pk else None
    action = request.POST.get("action")
    if endpoint is None or action not in ("test", "enable", "delete"):
        return not_found(request)
    if action == "test":
        delivery_create_test(endpoint=endpoint)
    elif action == "enable":
        services.endpoint_update(endpoint=endpoint, enabled=True)
    else:
        endpoint.delete()
    return redirect("org:budgets", org_slug=org_slug)


@require_POST
@manage_required
def time_zone_change(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The organization's time zone: where budgets' days, weeks and months start."""
    org = principal_of_request(request).organization
    zone = request.POST.get("time_zone", "").strip()
    try:
        validate_time_zone(zone)
    except ValidationError as exc:
        return _page(request, status=400, zone_errors={"time_zone": exc.messages})
    Organization.objects.filter(pk=org.pk).update(time_zone=zone)
    return redirect("org:budgets", org_slug=org_slug)
