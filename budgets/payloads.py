"""Webhook bodies: `{"type", "timestamp", "data"}`, money as exact JSON numbers in USD."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from budgets.models import Alert, Budget
from infraprism.money import nanos_to_usd
from infraprism.renderers import dumps

TEST_TYPE = "webhook.test"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Decimal) -> Decimal:
    """The value without trailing zeros and never in exponent form (10, not 1E+1)."""
    return Decimal(format(value.normalize(), "f"))


def percent_used(spend_nanos: int, limit_nanos: int) -> Decimal:
    """Spend as a percentage of the limit, to 4 decimal places."""
    if limit_nanos <= 0:
        return Decimal(0)
    return (Decimal(spend_nanos) * 100 / Decimal(limit_nanos)).quantize(Decimal("0.0001"))


def scope_of(budget: Budget, scope_key: str = "") -> dict[str, Any]:
    """The budget's scope; for an entity_type rule, the entity the alert is about."""
    scope: dict[str, Any] = {"type": budget.scope}
    if budget.scope in (Budget.Scope.ENTITY, Budget.Scope.ENTITY_TYPE):
        scope["entity_type"] = budget.entity_type
        scope["entity_id"] = budget.entity_id if budget.scope == Budget.Scope.ENTITY else scope_key
    elif budget.scope == Budget.Scope.TAG:
        scope["tag"] = budget.tag
    elif budget.scope == Budget.Scope.MODEL:
        scope["model"] = budget.model
    return scope


def alert_data(alert: Alert, budget: Budget) -> dict[str, Any]:
    return {
        "alert_id": alert.pk,
        "budget_id": budget.pk,
        "budget_name": budget.name,
        "scope": scope_of(budget, alert.scope_key),
        "period": budget.period,
        "period_start": _iso(alert.period_start),
        "period_end": _iso(alert.period_end),
        "spend": nanos_to_usd(alert.spend_nanos),
        "limit": nanos_to_usd(alert.limit_nanos),
        "threshold": plain(alert.threshold),
        "percent_used": percent_used(alert.spend_nanos, alert.limit_nanos),
        "currency": "USD",
    }


def alert_body(alert: Alert, budget: Budget) -> str:
    payload = {
        "type": alert.type,
        "timestamp": _iso(alert.created_at),
        "data": alert_data(alert, budget),
    }
    return dumps(payload).decode()


def test_body(endpoint_id: int, now: datetime) -> str:
    data = {"webhook_id": endpoint_id, "message": "A test delivery from InfraPrism."}
    return dumps({"type": TEST_TYPE, "timestamp": _iso(now), "data": data}).decode()
