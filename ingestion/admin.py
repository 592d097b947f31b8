"""Operators browse events and manage the price table."""

from django.contrib import admin
from django.http import HttpRequest

from ingestion.models import Event, ModelPrice


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
