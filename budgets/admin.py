"""Operators' view of budgets, alerts, webhook endpoints and deliveries.

Alerts and deliveries are records of what happened: read-only. Endpoint secrets never show.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from budgets.models import Alert, Budget, WebhookDelivery, WebhookEndpoint
from budgets.services import endpoint_update


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "scope", "period", "limit", "thresholds", "enabled"]
    list_filter = ["organization", "scope", "period", "enabled"]
    search_fields = ["name", "entity_id", "model", "tag_value"]
    list_select_related = ["organization"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "type", "organization", "budget", "scope_key", "threshold"]
    list_filter = ["organization", "type"]
    list_select_related = ["organization", "budget"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "organization", "enabled", "disabled_reason", "created_at"]
    list_filter = ["organization", "enabled"]
    search_fields = ["url", "description"]
    list_select_related = ["organization"]
    exclude = ["secret", "previous_secret"]
    readonly_fields = ["disabled_at", "disabled_reason", "previous_secret_expires_at"]
    actions = ["enable"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the API or the dashboard, which show the secret once

    @admin.action(description="Enable again (after fixing the receiver)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            endpoint_update(endpoint=endpoint, enabled=True)
        messages.success(request, f"{queryset.count()} endpoint(s) enabled.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "message_id",
        "event_type",
        "organization",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_latency_ms",
    ]
    list_filter = ["organization", "status", "event_type"]
    search_fields = ["message_id"]
    list_select_related = ["organization", "endpoint"]
    date_hierarchy = "created_at"
    show_full_result_count = False
