"""Per-session aggregates of LLM calls, kept equal to a recomputation from the events."""

from decimal import Decimal

from django.db import models
from django.db.models import JSONField

from infraprism.models import Organization
from infraprism.money import nanos_to_usd
from infraprism.tenancy import TenantManager


class Session(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    session_id = models.CharField(max_length=256)
    # From the earliest event (by timestamp, then storage order) that names an entity.
    entity_type = models.CharField(max_length=128, null=True, blank=True)
    entity_id = models.CharField(max_length=128, null=True, blank=True)
    turn_count = models.BigIntegerField(default=0)
    total_cost_nanos = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    error_count = models.BigIntegerField(default=0)
    tags = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField()
    # Order-independent merge bookkeeping (PostgreSQL rollup): the sort key of the event that
    # supplied the entity and each tag's value, so an earlier event arriving late still wins.
    entity_rank = models.CharField(max_length=48, null=True, blank=True, editable=False)
    tag_ranks = models.JSONField(default=dict, blank=True, editable=False)
    # Distinct model names, sorted. Declared last: the name shadows the `models` module.
    models = JSONField(default=list, blank=True)

    objects = TenantManager()

    class Meta:
        db_table = "llm_sessions_session"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session_id"], name="session_org_session_id"
            )
        ]
        # PostgreSQL also gets GIN indexes on tags and models (migration): not for SQLite.
        indexes = [
            models.Index(fields=["organization", "last_seen", "id"], name="session_org_last"),
            models.Index(fields=["organization", "first_seen", "id"], name="session_org_first"),
            models.Index(
                fields=["organization", "total_cost_nanos", "id"], name="session_org_cost"
            ),
            models.Index(fields=["organization", "turn_count", "id"], name="session_org_turns"),
            models.Index(
                fields=["organization", "entity_type", "entity_id", "last_seen", "id"],
                name="session_org_entity",
            ),
        ]

    def __str__(self) -> str:
        return self.session_id

    @property
    def total_cost(self) -> Decimal:
        return nanos_to_usd(self.total_cost_nanos)
