"""Operators' admin: organizations with their keys inline. Key hashes are never shown; a new
key's plaintext is shown once, as an admin message, right after it is created."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from infraprism.models import ApiKey, Membership, Organization
from infraprism.services import api_key_create, api_key_revoke

SCOPE_CHOICES = [(s, s) for s in ApiKey.SCOPES]


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=list(ApiKey.DEFAULT_SCOPES),
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expires_at"]


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    form = ApiKeyForm
    extra = 0
    fields = ["name", "scopes", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    show_change_link = True


def _issue_key(request: HttpRequest, api_key: ApiKey) -> ApiKey:
    """Create the key through the service and tell the operator its plaintext, once."""
    created, plaintext = api_key_create(
        organization=api_key.organization,
        name=api_key.name,
        scopes=sorted(api_key.scopes),
        expires_at=api_key.expires_at,
    )
    messages.warning(
        request,
        f"New API key '{created.name}': {plaintext} - copy it now, it will not be shown again.",
    )
    return created


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ApiKeyInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not ApiKey:
            return super().save_formset(request, form, formset, change)
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for api_key in instances:
            if api_key.pk is None:
                _issue_key(request, api_key)
            else:
                api_key.save()
        formset.save_m2m()


@admin.action(description="Revoke selected API keys")
def revoke_keys(modeladmin: Any, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
    count = 0
    for api_key in queryset.filter(revoked_at__isnull=True):
        api_key_revoke(api_key=api_key)
        count += 1
    modeladmin.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "prefix",
        "name",
        "organization",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["organization", "revoked_at"]
    search_fields = ["prefix", "name", "organization__slug"]
    actions = [revoke_keys]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        base = ["organization", "name", "scopes", "expires_at"]
        return (
            base if obj is None else [*base, "prefix", "created_at", "last_used_at", "revoked_at"]
        )

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["organization", "prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = _issue_key(request, obj)
        obj.pk = created.pk  # so the admin redirects to the real row
        obj.prefix, obj.key_hash = created.prefix, created.key_hash


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who may use the dashboard for which organization, with which role. Its own list rather
    than an inline on organizations, so an organization's change form stays the keys' form."""

    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__slug"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]
