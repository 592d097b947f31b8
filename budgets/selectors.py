"""Reads: budgets, their status now, alerts and deliveries, as JSON-ready dicts."""

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Max, QuerySet
from django.utils import timezone

from analytics.serializers import usd
from budgets.evaluation import threshold_nanos
from budgets.models import Alert, Budget, WebhookDelivery
from budgets.payloads import percent_used, plain, scope_of
from budgets.periods import Period, calendar_period, rolling_period
from budgets.spend import spend_by_scope_key
from infraprism.money import NANOS_PER_USD

ONE_NANO = Decimal("1e-9")


def budget_item(budget: Budget) -> dict[str, Any]:
    return {
        "id": budget.pk,
        "name": budget.name,
        "scope": budget.scope,
        "entity_type": budget.entity_type,
        "entity_id": budget.entity_id,
        "tag": budget.tag,
        "model": budget.model,
        "period": budget.period,
        "window_hours": budget.window_hours,
        "limit": usd(budget.limit_nanos),
        "thresholds": budget.threshold_values(),
        "enabled": budget.enabled,
        "created_at": budget.created_at,
        "updated_at": budget.updated_at,
    }


def current_period(budget: Budget, now: datetime, time_zone: str) -> Period:
    if budget.period == Budget.Period.ROLLING:
        return rolling_period(budget.window_hours or 1, now)
    return calendar_period(budget.period, now, time_zone)


def _projected(spend_nanos: int, period: Period, now: datetime, rolling: bool) -> Decimal:
    if rolling:
        return usd(spend_nanos)
    elapsed = max((now - period.start).total_seconds(), 1.0)
    pace = Decimal(spend_nanos) * Decimal(str(period.seconds)) / Decimal(str(elapsed))
    return (pace / NANOS_PER_USD).quantize(ONE_NANO, rounding=ROUND_HALF_EVEN)


def budget_status(
    budget: Budget, *, time_zone: str, entity_id: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Spend in the current period, for an entity_type rule the named entity's (by default
    the one that has spent most)."""
    now = now or timezone.now()
    period = current_period(budget, now, time_zone)
    keys = [entity_id] if entity_id is not None else []
    spends = spend_by_scope_key(budget, period.start, period.end, keys=keys)
    if budget.scope == Budget.Scope.ENTITY_TYPE:
        if entity_id is not None:
            scope_key, spend = entity_id, spends.get(entity_id, 0)
        else:
            scope_key, spend = max(spends.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0))
    else:
        scope_key, spend = "", spends.get("", 0)
    crossed = [
        t for t in budget.threshold_values() if spend >= threshold_nanos(t, budget.limit_nanos)
    ]
    return {
        "budget_id": budget.pk,
        "name": budget.name,
        "scope": scope_of(budget, scope_key),
        "period": budget.period,
        "period_start": period.start,
        "period_end": period.end,
        "spend": usd(spend),
        "limit": usd(budget.limit_nanos),
        "percent_used": percent_used(spend, budget.limit_nanos),
        "projected_spend": _projected(spend, period, now, budget.period == Budget.Period.ROLLING),
        "thresholds_crossed": crossed,
        "currency": "USD",
        "enabled": budget.enabled,
    }


def alert_item(alert: Alert) -> dict[str, Any]:
    budget = alert.budget
    return {
        "id": alert.pk,
        "type": alert.type,
        "budget_id": budget.pk,
        "budget_name": budget.name,
        "scope": scope_of(budget, alert.scope_key),
        "threshold": plain(alert.threshold),
        "period_start": alert.period_start,
        "period_end": alert.period_end,
        "spend": usd(alert.spend_nanos),
        "limit": usd(alert.limit_nanos),
        "percent_used": percent_used(alert.spend_nanos, alert.limit_nanos),
        "created_at": alert.created_at,
    }


def delivery_item(delivery: WebhookDelivery) -> dict[str, Any]:
    pending = delivery.status == WebhookDelivery.Status.PENDING
    return {
        "id": delivery.pk,
        "message_id": delivery.message_id,
        "event_type": delivery.event_type,
        "alert_id": delivery.alert_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "last_latency_ms": delivery.last_latency_ms,
        "last_attempt_at": delivery.last_attempt_at,
        "next_attempt_at": delivery.next_attempt_at if pending else None,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
    }


def alert_list(*, organization_id: int) -> QuerySet[Alert]:
    return Alert.objects.filter(organization_id=organization_id).select_related("budget")


def latest_alert_times(*, organization_id: int) -> dict[int, datetime]:
    rows = (
        Alert.objects.filter(organization_id=organization_id)
        .values("budget_id")
        .annotate(last=Max("created_at"))
    )
    return {r["budget_id"]: r["last"] for r in rows}
