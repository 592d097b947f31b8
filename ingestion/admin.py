"""Operators browse events and manage the price table."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ingestion.models import Event, ModelPrice
from ingestion.pricing import price_cache_clear


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = [
        "event_id",
        "organization",
        "timestamp",
        "model",
        "session_id",
        "entity_type",
        "entity_id",
        "cost",
        "cost_source",
        "status",
    ]
    list_filter = ["organization", "cost_source", "status", "provider"]
    search_fields = ["event_id", "session_id", "entity_id", "model"]
    date_hierarchy = "timestamp"
    list_select_related = ["organization"]
    show_full_result_count = False  # COUNT(*) over millions of events on every page is slow

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False  # events are facts; corrections are new events


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "provider",
        "organization",
        "effective_from",
        "input_per_million",
        "output_per_million",
        "cached_input_per_million",
    ]
    list_filter = ["provider", "organization", "effective_from"]
    search_fields = ["model"]
    actions = ["reprice_events"]

    @admin.action(description="Re-price the events these prices cover")
    def reprice_events(self, request: HttpRequest, queryset: QuerySet[ModelPrice]) -> None:
        """Queue a re-pricing task per organization the selected prices apply to: the
        organization's own for an override, every organization for a list price. Exact model
        names re-price that model only; a glob re-prices all of the organization's models (the
        book decides what each event costs)."""
        from infraprism.models import Organization
        from sessions.tasks import reprice_events

        all_orgs = list(Organization.objects.values_list("pk", flat=True))
        jobs: set[tuple[int, str | None]] = set()
        for price in queryset:
            model = None if price.is_pattern else price.model
            targets = [price.organization_id] if price.organization_id else all_orgs
            jobs.update((org, model) for org in targets)
        for organization_id, model in sorted(jobs, key=lambda job: (job[0], job[1] or "")):
            reprice_events.delay(organization_id, model)
        self.message_user(request, f"queued {len(jobs)} re-pricing task(s)", level=messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: ModelPrice, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        price_cache_clear()

    def delete_model(self, request: HttpRequest, obj: ModelPrice) -> None:
        super().delete_model(request, obj)
        price_cache_clear()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelPrice]) -> None:
        super().delete_queryset(request, queryset)
        price_cache_clear()
