"""The Budgets page (Django test client, CSRF enforced): owners and admins manage budgets and
endpoints, members get a 403, other organizations a 404, a disabled endpoint is announced."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from budgets.deliveries import endpoint_disable
from budgets.evaluation import budgets_evaluate_organization
from budgets.models import Alert, Budget, WebhookDelivery, WebhookEndpoint
from budgets.services import endpoint_create
from infraprism.models import Organization
from ingestion.models import Event
from tests.budgets.helpers import make_budget

pytestmark = pytest.mark.django_db


def csrf_post(client: Client, path: str, data: dict[str, Any]) -> Any:
    page = client.get("/o/acme/budgets/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else ""
    token = token or client.cookies["csrftoken"].value
    return client.post(path, {**data, "csrfmiddlewaretoken": token})


def test_owner_creates_a_budget_and_sees_field_errors(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    owner = signed_in(make_member(org, "owner"))
    assert owner.get("/o/acme/budgets/").status_code == 200
    bad = csrf_post(
        owner, "/o/acme/budgets/", {"name": "x", "scope": "entity", "period": "day", "limit": "5"}
    )
    assert bad.status_code == 400 and b"entity_type" in bad.content and b"required" in bad.content
    ok = csrf_post(
        owner,
        "/o/acme/budgets/",
        {"name": "Per user", "scope": "entity_type", "entity_type": "user", "period": "week",
         "limit": "2.50", "thresholds": "1, 0.5"},
    )  # fmt: skip
    assert ok.status_code == 302
    budget = Budget.objects.get(organization=org)
    assert budget.limit_nanos == 2_500_000_000 and budget.thresholds == ["0.5", "1"]
    assert b"Per user" in owner.get("/o/acme/budgets/").content


def test_webhook_secret_once_and_disabled_banner(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    admin = signed_in(make_member(org, "admin"))
    created = csrf_post(admin, "/o/acme/budgets/webhooks", {"url": "https://example.com/h"})
    endpoint = WebhookEndpoint.objects.get(organization=org)
    assert created.status_code == 200 and endpoint.secret.encode() in created.content
    assert endpoint.secret.encode() not in admin.get("/o/acme/budgets/").content
    refused = csrf_post(admin, "/o/acme/budgets/webhooks", {"url": "http://example.com/h"})
    assert refused.status_code == 400 and b"https" in refused.content
    endpoint_disable(endpoint_id=endpoint.pk, reason="Deliveries kept failing for 8 attempts")
    page = admin.get("/o/acme/budgets/").content
    assert b'data-testid="webhook-disabled"' in page and b"kept failing" in page
    action = {"webhook_id": endpoint.pk, "action": "enable"}
    enabled = csrf_post(admin, "/o/acme/budgets/webhooks/action", action)
    assert enabled.status_code == 302 and WebhookEndpoint.objects.get().enabled


def test_members_and_strangers_are_kept_out(
    org: Organization,
    other_org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    member = signed_in(make_member(org, "member"))
    assert member.get("/o/acme/budgets/").status_code == 403
    theirs = make_budget(other_org, limit=Decimal("1"))
    hook = endpoint_create(organization=other_org, url="https://example.com/h")
    owner = signed_in(make_member(org, "owner"))
    gone = {"budget_id": theirs.pk}
    assert csrf_post(owner, "/o/acme/budgets/delete", gone).status_code == 404
    drop = {"webhook_id": hook.pk, "action": "delete"}
    assert csrf_post(owner, "/o/acme/budgets/webhooks/action", drop).status_code == 404
    assert csrf_post(owner, "/o/acme/budgets/delete", {"budget_id": "x"}).status_code == 404
    assert owner.get("/o/globex/budgets/").status_code == 404
    assert Budget.objects.filter(pk=theirs.pk).exists()


def test_owner_sets_the_time_zone(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    owner = signed_in(make_member(org, "owner"))
    bad = csrf_post(owner, "/o/acme/budgets/time-zone", {"time_zone": "Mars/Olympus"})
    assert bad.status_code == 400 and b"IANA" in bad.content
    ok = csrf_post(owner, "/o/acme/budgets/time-zone", {"time_zone": "America/New_York"})
    assert ok.status_code == 302
    org.refresh_from_db()
    assert org.time_zone == "America/New_York"


def test_the_page_shows_no_other_organizations_alerts_or_deliveries(
    org: Organization,
    other_org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    now = timezone.now()
    for tenant in (org, other_org):
        make_budget(tenant, name=f"{tenant.slug}-only-budget", limit=Decimal("1"))
        endpoint_create(organization=tenant, url=f"https://{tenant.slug}.example.com/h")
        Event.objects.create(
            organization=tenant, event_id=f"{tenant.slug}-call", timestamp=now, received_at=now,
            model="gpt-4o", cost_nanos=5 * 10**9, cost_source="client",
        )  # fmt: skip
        budgets_evaluate_organization(organization_id=tenant.pk)
    theirs = WebhookDelivery.objects.filter(organization=other_org).values_list(
        "message_id", flat=True
    )
    assert Alert.objects.filter(organization=other_org).exists() and theirs
    page = signed_in(make_member(org, "owner")).get("/o/acme/budgets/").content.decode()
    # Our own crossing is listed (the check below can fail), theirs never.
    assert page.count("acme-only-budget") > 1
    assert "globex-only-budget" not in page
    assert not [message_id for message_id in theirs if message_id in page]
