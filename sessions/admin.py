from django.contrib import admin
from django.http import HttpRequest

from sessions.models import Session


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = [
        "session_id",
        "organization",
        "entity_type",
        "entity_id",
        "turn_count",
        "total_cost",
        "first_seen",
        "last_seen",
        "error_count",
    ]
    list_filter = ["organization", "entity_type"]
    search_fields = ["session_id", "entity_id"]
    list_select_related = ["organization"]
    exclude = ["entity_rank", "tag_ranks"]
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False  # aggregates are derived from events by the rollup only
