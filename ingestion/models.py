"""Stored LLM calls and the price table (the rollup queue is sessions.models.PendingRollup)."""

from decimal import Decimal

from django.db import models
from django.db.models import Q

from infraprism.models import Organization
from infraprism.money import nanos_to_usd
from infraprism.tenancy import TenantManager


class Event(models.Model):
    class CostSource(models.TextChoices):
        CLIENT = "client"
        COMPUTED = "computed"
        UNPRICED = "unpriced"

    class Status(models.TextChoices):
        SUCCESS = "success"
        ERROR = "error"

    # No foreign key in the database, like the event keys and the queue: ingestion writes the
    # organization of the authenticated key, and the deferred check cost every write a lookup
    # and a share lock on the organization's row per event at commit (2.7 ms of a 1,000-event
    # batch; docs/decisions.md). Deleting an organization still deletes its events (Django).
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    event_id = models.CharField(max_length=128)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, blank=True, default="")
    entity_type = models.CharField(max_length=128, null=True, blank=True)
    entity_id = models.CharField(max_length=128, null=True, blank=True)
    session_id = models.CharField(max_length=256, null=True, blank=True)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    # Integer nano-dollars (1e-9 USD): exact on PostgreSQL and SQLite alike, fast to sum.
    cost_nanos = models.BigIntegerField(default=0)
    cost_source = models.CharField(max_length=8, choices=CostSource.choices)
    latency_ms = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SUCCESS)
    tags = models.JSONField(default=dict, blank=True)
    # The ModelPrice row that computed cost_nanos (cost_source "computed"), for re-pricing and
    # audit. No database constraint: a deleted or re-pointed price row must never block or
    # rewrite stored events, and a reference table needs no FK from a distributed one.
    price_id = models.BigIntegerField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "event_id"], name="event_org_event_id")
        ]
        # PostgreSQL also gets a GIN index on tags (migration 0002): not expressible for SQLite.
        # On PostgreSQL (partitioned, migration 0009) event_org_ts is the primary key's index,
        # (organization_id, timestamp, id), and event_org_event_id does not exist: idempotency
        # is EventKey's. A migration that alters either must handle PostgreSQL by hand.
        indexes = [
            models.Index(fields=["organization", "timestamp"], name="event_org_ts"),
            models.Index(
                fields=["organization", "session_id", "timestamp"], name="event_org_session"
            ),
            models.Index(
                fields=["organization", "entity_type", "entity_id", "timestamp"],
                name="event_org_entity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.model})"

    @property
    def cost(self) -> Decimal:
        return nanos_to_usd(self.cost_nanos)


class EventKey(models.Model):
    """Idempotency keys of stored events on PostgreSQL, where the events table is partitioned
    by month and so cannot hold a unique (organization, event_id) constraint of its own.

    The events insert claims a key first (ON CONFLICT DO NOTHING) and stores only the events
    whose key was new, in the same statement; retention deletes a key with its event
    (docs/decisions.md, "Data lifecycle"). Unused on SQLite, whose unpartitioned events table
    keeps the unique constraint. Plain columns: no foreign key, a distributed table's key
    needs none.
    """

    pk = models.CompositePrimaryKey("organization_id", "event_id")
    organization_id = models.BigIntegerField()
    event_id = models.CharField(max_length=128)

    class Meta:
        db_table = "ingestion_eventkey"

    def __str__(self) -> str:
        return f"{self.organization_id}/{self.event_id}"


class ModelPrice(models.Model):
    """USD per million tokens for a model name or glob pattern (`claude-3-5-sonnet-*`).

    Rows without an organization are the shipped list prices; an organization's row beats
    them. The row in effect is the one with the latest `effective_from` on or before the
    event's date (UTC).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="prices"
    )
    model = models.CharField(max_length=200, help_text="Exact model name or a glob with * / ?")
    provider = models.CharField(max_length=64, blank=True, default="")
    input_per_million = models.DecimalField(max_digits=14, decimal_places=6)
    output_per_million = models.DecimalField(max_digits=14, decimal_places=6)
    cached_input_per_million = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Price of cache-hit input tokens; empty means the input price.",
    )
    effective_from = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "effective_from"],
                condition=Q(organization__isnull=True),
                name="price_global_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "model", "effective_from"],
                condition=Q(organization__isnull=False),
                name="price_org_unique",
            ),
        ]

    def __str__(self) -> str:
        owner = self.organization.slug if self.organization is not None else "global"
        return f"{self.model} from {self.effective_from} ({owner})"

    @property
    def is_pattern(self) -> bool:
        return any(ch in self.model for ch in "*?[")
