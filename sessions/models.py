"""Per-session aggregates of LLM calls, kept equal to a recomputation from the events, and the
queue of events not yet folded into them (sessions.rollup claims and deletes its rows)."""

from decimal import Decimal

from django.db import models
from django.db.models import JSONField

from infraprism.models import Organization
from infraprism.money import nanos_to_usd
from infraprism.tenancy import TenantManager
from sessions.fields import NanoDollarSumField


class Session(models.Model):
    # No foreign key in the database, like the queue and the daily tables: only the rollup
    # inserts sessions, for the organization of the queue rows it folds, and the deferred key
    # check was 3% of a drain's database CPU (docs/decisions.md). Deleting an organization still
    # deletes its sessions (Django's CASCADE, not the database's).
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    session_id = models.CharField(max_length=256)
    # From the earliest event by (timestamp, event_id) that names an entity (SPEC section 9).
    entity_type = models.CharField(max_length=128, null=True, blank=True)
    entity_id = models.CharField(max_length=128, null=True, blank=True)
    turn_count = models.BigIntegerField(default=0)
    # Exact for any number of calls: NUMERIC on PostgreSQL, INTEGER-or-padded-TEXT on SQLite.
    total_cost_nanos = NanoDollarSumField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    error_count = models.BigIntegerField(default=0)
    tags = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField()
    # Order-independent merge bookkeeping (PostgreSQL rollup): the rank, (timestamp, event_id)
    # packed into one string (sessions/rollup/postgres.py), of the event that supplied the
    # entity and of each tag's value, so an earlier event arriving late still wins.
    entity_rank = models.TextField(null=True, blank=True, editable=False)
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
        # On PostgreSQL session_org_first also INCLUDEs last_seen, total_cost_nanos and
        # turn_count (migration 0005, for session-metrics' index-only scans): keep them.
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


class PendingRollup(models.Model):
    """One row per stored event not yet folded into its session aggregate (events with a
    session) and the daily cost table (every event).

    Written in the same statement as the events (sessions/rollup/queue.py), from the insert's
    RETURNING; the rollup claims rows with FOR UPDATE SKIP LOCKED and deletes them in the
    transaction that updates the aggregates. A queue table is far cheaper to claim and delete
    from than a flag on the wide events table (DESIGN.md's measurements), and it carries exactly
    the columns the rollup folds, so a rollup never reads the events table. The table keeps the
    name it had when the model lived in `ingestion`.
    """

    organization_id = models.BigIntegerField()
    session_id = models.CharField(max_length=256, null=True)  # NULL: folds into DailyCost only
    event_pk = models.BigIntegerField()
    event_id = models.CharField(max_length=128)  # ties on timestamp go to the smaller event_id
    timestamp = models.DateTimeField()
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, default="")
    is_error = models.BooleanField(default=False)
    entity_type = models.CharField(max_length=128, null=True)
    entity_id = models.CharField(max_length=128, null=True)
    cost_nanos = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    tags = models.JSONField(null=True)  # NULL when the event has no tags

    objects = TenantManager()

    class Meta:
        db_table = "ingestion_pendingrollup"
        # Claims go in (organization, session) order so a chunk holds whole sessions.
        indexes = [
            models.Index(fields=["organization_id", "session_id", "id"], name="pending_org_session")
        ]

    def __str__(self) -> str:
        return f"event {self.event_pk} (org {self.organization_id})"


class DailySums(models.Model):
    """The sums a daily cost row keeps: calls, tokens, errors and the exact cost."""

    cost_nanos = NanoDollarSumField(default=0)
    call_count = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    error_count = models.BigIntegerField(default=0)

    objects = TenantManager()

    class Meta:
        abstract = True


class DailyCost(DailySums):
    """Calls, tokens and exact cost per (organization, UTC day, entity, model, provider).

    Folded by the rollup from the same queue rows, in the same transaction, as the sessions
    (so exactly once too); the cost reports read it instead of the events (analytics/
    cost_reports.py). Events without an entity are stored under entity_type = entity_id = ""
    (ingestion never accepts an empty entity), so the unique key has no NULLs and one
    ON CONFLICT target serves both engines; reads turn "" back into NULL.
    """

    organization_id = models.BigIntegerField()
    day = models.DateField()  # the event timestamp's UTC date
    entity_type = models.CharField(max_length=128, default="")
    entity_id = models.CharField(max_length=128, default="")
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, default="")

    class Meta:
        db_table = "costs_daily"
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "day", "entity_type", "entity_id", "model", "provider"],
                name="daily_cost_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} (org {self.organization_id})"


class DailyTagCost(DailySums):
    """Calls, tokens and exact cost per (organization, UTC day, tag key, tag value).

    An event adds to one row per tag it carries, and to its day's row of all events (tag_key
    and tag_value "": ingestion never accepts an empty key), folded by the rollup from the same
    queue rows and in the same transaction as DailyCost (sessions/rollup/tag_daily.py), so
    exactly once too. tag_value is what `tags ->> key` gives: tag values are strings after
    ingestion validation (ingestion/schema.py), "" included, so the key has no NULLs. The cost
    reports grouped by a tag read it (analytics/cost_reports.py); the events without a key
    are the day rows of all events minus the key's rows.
    """

    organization_id = models.BigIntegerField()
    day = models.DateField()  # the event timestamp's UTC date
    tag_key = models.CharField(max_length=64)
    tag_value = models.CharField(max_length=256)

    class Meta:
        db_table = "costs_daily_tags"
        constraints = [
            models.UniqueConstraint(
                # tag_key before day: a report reads one key over a range of days.
                fields=["organization_id", "tag_key", "day", "tag_value"],
                name="daily_tag_cost_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.tag_key}={self.tag_value} (org {self.organization_id})"
