"""Django admin: every budgets page renders for operators; endpoint secrets never show."""

from decimal import Decimal

import pytest
from django.test import Client

from budgets.deliveries import delivery_create_test
from budgets.evaluation import budgets_evaluate_organization
from budgets.services import endpoint_create
from infraprism.models import Organization
from tests.budgets.helpers import call, make_budget
from tests.conftest import KeyClient

pytestmark = pytest.mark.django_db


def test_admin_pages_render_without_secrets(
    admin_client: Client, org: Organization, client: KeyClient
) -> None:
    budget = make_budget(org, limit=Decimal("0.1"))
    endpoint = endpoint_create(organization=org, url="https://example.com/hook")
    client.post_json("/v1/events", call("1"))
    budgets_evaluate_organization(organization_id=org.pk)
    delivery_create_test(endpoint=endpoint)
    for model in ("budget", "alert", "webhookendpoint", "webhookdelivery"):
        listing = admin_client.get(f"/admin/budgets/{model}/")
        assert listing.status_code == 200, model
        assert endpoint.secret.encode() not in listing.content
    detail = admin_client.get(f"/admin/budgets/webhookendpoint/{endpoint.pk}/change/")
    assert detail.status_code == 200 and endpoint.secret.encode() not in detail.content
    assert admin_client.get(f"/admin/budgets/budget/{budget.pk}/change/").status_code == 200
