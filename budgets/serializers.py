"""Request validation (DRF serializers) and response shapes of the budgets and webhooks API.

Every 400 names the field and the reason. Fields a scope or period does not take are refused,
not ignored, like unknown fields: a budget that silently dropped `entity_id` would watch the
wrong spend.
"""

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from budgets import egress
from budgets.models import Budget, WebhookEndpoint

MAX_LIMIT = Decimal("1000000000")  # USD 1e9 (1e18 nano-dollars fits a bigint)
MAX_THRESHOLDS = 20
SCOPE_FIELDS = {
    "organization": (),
    "entity": ("entity_type", "entity_id"),
    "entity_type": ("entity_type",),
    "tag": ("tag",),
    "model": ("model",),
}
ALL_SCOPE_FIELDS = ("entity_type", "entity_id", "tag", "model")
# key:value, a key of 1-64 characters without ':' (the value may hold ':' and be empty).
TAG_PATTERN = r"^[^:]{1,64}:[\s\S]{0,256}$"


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare (typos must not be lost silently)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


def _tag(value: str) -> None:
    key, sep, _ = value.partition(":")
    if not sep or not key:
        raise serializers.ValidationError("must be key:value, for example feature:chatbot")
    if len(key) > 64 or len(value) - len(key) - 1 > 256:
        raise serializers.ValidationError("tag keys have at most 64 characters, values 256")


class BudgetIn(StrictSerializer):
    name = serializers.CharField(max_length=200)
    scope = serializers.ChoiceField(choices=Budget.Scope.choices)
    entity_type = serializers.CharField(max_length=128, required=False, allow_null=True)
    entity_id = serializers.CharField(
        max_length=128, required=False, allow_null=True, trim_whitespace=False
    )
    tag = serializers.RegexField(
        TAG_PATTERN,
        max_length=321,
        required=False,
        allow_null=True,
        validators=[_tag],
        trim_whitespace=False,
        error_messages={"invalid": "must be key:value, for example feature:chatbot"},
    )
    model = serializers.CharField(max_length=200, required=False, allow_null=True)
    period = serializers.ChoiceField(choices=Budget.Period.choices)
    window_hours = serializers.IntegerField(
        min_value=1, max_value=8760, required=False, allow_null=True
    )
    limit = serializers.DecimalField(
        max_digits=22,
        decimal_places=9,
        min_value=Decimal("0.000000001"),
        max_value=MAX_LIMIT,
        help_text="USD, more than 0, at most 9 decimal places",
    )
    thresholds = serializers.ListField(
        child=serializers.DecimalField(
            max_digits=6, decimal_places=4, min_value=Decimal("0.0001"), max_value=Decimal(10)
        ),
        min_length=1,
        max_length=MAX_THRESHOLDS,
        required=False,
        help_text="Fractions of the limit in (0, 10], at most 4 decimal places, no repeats "
        "(stored sorted); default [0.5, 0.8, 1]",
    )
    enabled = serializers.BooleanField(required=False)

    def validate_thresholds(self, value: list[Decimal]) -> list[Decimal]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("must not repeat a threshold")
        return sorted(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        merged = {**self._current(), **attrs}
        errors: dict[str, list[str]] = {}
        needed = SCOPE_FIELDS[merged["scope"]]
        # Required: sent now or stored. Refused: sent now for a scope that does not take it
        # (stored values the new scope does not take are cleared below).
        for name in ALL_SCOPE_FIELDS:
            if name in needed and merged.get(name) in (None, ""):
                errors[name] = [f"is required when scope is {merged['scope']}"]
            elif name not in needed and attrs.get(name) not in (None, ""):
                errors[name] = [f"is not taken when scope is {merged['scope']}"]
        rolling = merged["period"] == Budget.Period.ROLLING
        if rolling and merged.get("window_hours") is None:
            errors["window_hours"] = ["is required when period is rolling"]
        if not rolling and attrs.get("window_hours") is not None:
            errors["window_hours"] = ["is only taken when period is rolling"]
        if errors:
            raise serializers.ValidationError(errors)
        # A scope change clears the fields the new scope does not take.
        for name in ALL_SCOPE_FIELDS:
            if name not in needed:
                attrs[name] = None
        if not rolling:
            attrs["window_hours"] = None
        return attrs

    def _current(self) -> dict[str, Any]:
        budget = self.instance
        if not isinstance(budget, Budget):
            return {}
        return {
            "scope": budget.scope,
            "period": budget.period,
            "window_hours": budget.window_hours,
            "entity_type": budget.entity_type,
            "entity_id": budget.entity_id,
            "tag": budget.tag,
            "model": budget.model,
        }


class WebhookIn(StrictSerializer):
    url = serializers.CharField(max_length=2000, trim_whitespace=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)

    def validate_url(self, value: str) -> str:
        problem = egress.url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


# --- response shapes (the views build dicts; these describe them in the schema) -----------


class ScopeOut(serializers.Serializer):
    type = serializers.CharField(help_text="organization, entity, entity_type, tag or model")
    entity_type = serializers.CharField(required=False)
    entity_id = serializers.CharField(required=False)
    tag = serializers.CharField(required=False)
    model = serializers.CharField(required=False)


class BudgetOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    scope = serializers.CharField(help_text="organization, entity, entity_type, tag or model")
    entity_type = serializers.CharField(allow_null=True)
    entity_id = serializers.CharField(allow_null=True)
    tag = serializers.CharField(allow_null=True)
    model = serializers.CharField(allow_null=True)
    period = serializers.CharField(help_text="day, week, month or rolling")
    window_hours = serializers.IntegerField(allow_null=True)
    limit = serializers.DecimalField(max_digits=22, decimal_places=9, coerce_to_string=False)
    thresholds = serializers.ListField(
        child=serializers.DecimalField(max_digits=6, decimal_places=4, coerce_to_string=False)
    )
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StatusOut(serializers.Serializer):
    budget_id = serializers.IntegerField()
    name = serializers.CharField()
    scope = ScopeOut()
    period = serializers.CharField(help_text="day, week, month or rolling")
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    spend = serializers.DecimalField(max_digits=40, decimal_places=9, coerce_to_string=False)
    limit = serializers.DecimalField(max_digits=22, decimal_places=9, coerce_to_string=False)
    percent_used = serializers.DecimalField(max_digits=40, decimal_places=4, coerce_to_string=False)
    projected_spend = serializers.DecimalField(
        max_digits=40,
        decimal_places=9,
        coerce_to_string=False,
        help_text="Spend at the end of the period at the pace so far (rolling: the spend)",
    )
    thresholds_crossed = serializers.ListField(
        child=serializers.DecimalField(max_digits=6, decimal_places=4, coerce_to_string=False)
    )
    currency = serializers.CharField()
    enabled = serializers.BooleanField()


class AlertOut(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(help_text="budget.threshold_crossed or budget.recovered")
    budget_id = serializers.IntegerField()
    budget_name = serializers.CharField()
    scope = ScopeOut()
    threshold = serializers.DecimalField(max_digits=6, decimal_places=4, coerce_to_string=False)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    spend = serializers.DecimalField(max_digits=40, decimal_places=9, coerce_to_string=False)
    limit = serializers.DecimalField(max_digits=22, decimal_places=9, coerce_to_string=False)
    percent_used = serializers.DecimalField(max_digits=40, decimal_places=4, coerce_to_string=False)
    created_at = serializers.DateTimeField()


class WebhookOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(allow_blank=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then deliveries also carry the old secret's signature"
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookWithSecretOut(WebhookOut):
    secret = serializers.CharField(help_text="whsec_...: shown only here, on create and rotate")


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    message_id = serializers.CharField(help_text="The webhook-id header")
    event_type = serializers.CharField()
    alert_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(help_text="pending, delivered, failed or cancelled")
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    last_latency_ms = serializers.IntegerField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def endpoint_item(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    item = {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at
        if endpoint.previous_secret
        else None,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }
    if secret:
        item["secret"] = endpoint.secret
    return item
