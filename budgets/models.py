"""Budgets, the alerts they raise, and the webhook endpoints and deliveries that carry them.

Every table has its own `organization_id` and every UNIQUE constraint includes it (tables are
distributed by organization, issue #16). Money is whole nano-dollars, like events.
"""

from datetime import datetime
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from infraprism.models import Organization
from infraprism.money import nanos_to_usd
from infraprism.tenancy import TenantManager


class Budget(models.Model):
    class Scope(models.TextChoices):
        ORGANIZATION = "organization"
        ENTITY = "entity"
        ENTITY_TYPE = "entity_type"  # one rule, evaluated per entity of the type
        TAG = "tag"
        MODEL = "model"

    class Period(models.TextChoices):
        DAY = "day"
        WEEK = "week"
        MONTH = "month"
        ROLLING = "rolling"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    entity_type = models.CharField(max_length=128, null=True, blank=True)
    entity_id = models.CharField(max_length=128, null=True, blank=True)
    tag_key = models.CharField(max_length=64, null=True, blank=True)
    tag_value = models.CharField(max_length=256, null=True, blank=True)
    model = models.CharField(max_length=200, null=True, blank=True)
    period = models.CharField(max_length=8, choices=Period.choices)
    window_hours = models.PositiveIntegerField(null=True, blank=True)
    limit_nanos = models.BigIntegerField()
    # Fractions of the limit as decimal strings ("0.5"), sorted, unique.
    thresholds = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["organization", "enabled"], name="budget_org_enabled")]

    def __str__(self) -> str:
        return self.name

    @property
    def limit(self) -> Decimal:
        return nanos_to_usd(self.limit_nanos)

    @property
    def tag(self) -> str | None:
        return None if self.tag_key is None else f"{self.tag_key}:{self.tag_value or ''}"

    def threshold_values(self) -> list[Decimal]:
        return [Decimal(t) for t in self.thresholds]


class Alert(models.Model):
    """One transition of one (budget, scope key, threshold, period): crossed, recovered, ...

    `transition` counts them (0 the first crossing, 1 its recovery, 2 a crossing again...), and
    the UNIQUE constraint over all of it decides which evaluation records (and so sends) each
    transition: exactly once, however many workers evaluate at once.
    """

    class Type(models.TextChoices):
        CROSSED = "budget.threshold_crossed"
        RECOVERED = "budget.recovered"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    type = models.CharField(max_length=32, choices=Type.choices)
    # The entity_id for an entity_type rule; "" for every other scope.
    scope_key = models.CharField(max_length=128, default="", blank=True)
    threshold = models.DecimalField(max_digits=8, decimal_places=4)
    # Calendar periods: their start. Rolling windows: one fixed key (the epoch), so a window
    # that slides back under the limit recovers and one that rises again alerts again.
    period_key = models.DateTimeField()
    transition = models.PositiveIntegerField(default=0)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    spend_nanos = models.BigIntegerField()
    limit_nanos = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "budget",
                    "scope_key",
                    "threshold",
                    "period_key",
                    "transition",
                ],
                name="alert_one_per_transition",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "created_at"], name="alert_org_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.budget_id} {self.threshold}"


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    # Checked by budgets.egress (scheme, host, addresses), not by URLField.
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    # `whsec_` + base64: the signing key must be readable to sign, so it is stored as is (like
    # every Standard Webhooks sender); it is shown once in the API and never in admin lists.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["organization", "enabled"], name="webhook_org_enabled")]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the previous one while a rotation's grace lasts."""
        secrets = [self.secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > now:
            secrets.append(self.previous_secret)
        return secrets


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # retries exhausted
        CANCELLED = "cancelled"  # the endpoint was disabled or deleted first

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.SET_NULL)
    # The `webhook-id` header: the same on every attempt, so receivers can deduplicate.
    message_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=32)
    # The exact bytes sent (UTF-8 JSON), signed as they are on every attempt.
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due; a claimed attempt moves it ahead by the lease, so an
    # attempt whose worker died is retried once the lease runs out.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "message_id"], name="delivery_org_message_id"
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "endpoint", "created_at"], name="delivery_org_endpoint"
            ),
            # The beat's "what is due" scan across organizations: pending rows only.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_pending_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"
