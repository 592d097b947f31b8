"""Writes: budgets and webhook endpoints (validated input in, rows out)."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from budgets.models import Budget, WebhookEndpoint
from budgets.signing import secret_generate
from infraprism.models import Organization
from infraprism.money import usd_to_nanos

DEFAULT_THRESHOLDS = (Decimal("0.5"), Decimal("0.8"), Decimal("1"))


def _budget_fields(values: dict[str, Any]) -> dict[str, Any]:
    """API-shaped values (limit in USD, tag as key:value, Decimal thresholds) -> columns."""
    fields = dict(values)
    if "limit" in fields:
        fields["limit_nanos"] = usd_to_nanos(fields.pop("limit"))
    if "tag" in fields:
        tag = fields.pop("tag")
        key, value = tag.partition(":")[::2] if tag is not None else (None, None)
        fields["tag_key"], fields["tag_value"] = key, value
    if "thresholds" in fields:
        unique = {Decimal(str(t)) for t in fields["thresholds"]}
        fields["thresholds"] = [format(t.normalize(), "f") for t in sorted(unique)]
    return fields


@transaction.atomic
def budget_create(*, organization: Organization, **values: Any) -> Budget:
    values.setdefault("thresholds", list(DEFAULT_THRESHOLDS))
    return Budget.objects.create(organization=organization, **_budget_fields(values))


@transaction.atomic
def budget_update(*, budget: Budget, **values: Any) -> Budget:
    for name, value in _budget_fields(values).items():
        setattr(budget, name, value)
    budget.save()
    return budget


@transaction.atomic
def endpoint_create(*, organization: Organization, url: str, **values: Any) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        organization=organization, url=url, secret=secret_generate(), **values
    )


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, **values: Any) -> WebhookEndpoint:
    for name, value in values.items():
        setattr(endpoint, name, value)
    if values.get("enabled") is True:
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the old one still signs deliveries for WEBHOOK_SECRET_ROTATION_HOURS."""
    grace = timedelta(hours=settings.WEBHOOK_SECRET_ROTATION_HOURS)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + grace
    endpoint.secret = secret_generate()
    endpoint.save()
    return endpoint
