"""API keys of the organization: owners and admins only.

A member who opens this page gets a 403 page, not a 404: the member knows the organization
exists, and a plain "not allowed" explains the missing menu entry better than "not found".
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from dashboard.access import principal_of_request
from dashboard.forms import ApiKeyCreateForm
from dashboard.pages import org_page
from dashboard.responses import forbidden, not_found
from infraprism.models import ApiKey
from infraprism.principal import SCOPE_MANAGE
from infraprism.services import api_key_create, api_key_revoke


def manage_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not principal_of_request(request).has_scope(SCOPE_MANAGE):
            return forbidden(
                request, "Only owners and admins of this organization manage its keys."
            )
        return view(request, *args, **kwargs)

    return wrapped


def _page(
    request: HttpRequest, form: ApiKeyCreateForm, status: int = 200, **extra: Any
) -> HttpResponse:
    org = principal_of_request(request).organization
    keys = ApiKey.objects.filter(organization_id=org.pk).order_by("-created_at", "-id")
    return org_page(
        request, "dashboard/keys.html", "keys", {"keys": keys, "form": form, **extra}, status
    )


@never_cache
@manage_required
def keys(request: HttpRequest, org_slug: str) -> HttpResponse:
    if request.method != "POST":
        return _page(request, ApiKeyCreateForm())
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    created, plaintext = api_key_create(
        organization=principal_of_request(request).organization,
        name=form.cleaned_data["name"],
        scopes=sorted(form.cleaned_data["scopes"]),
        expires_at=form.expires_at(),
    )
    # Rendered in the POST's own response (never stored, never redirected to): reloading
    # or going back cannot show the plaintext again.
    return _page(request, ApiKeyCreateForm(), created_key=created, plaintext=plaintext)


@require_POST
@manage_required
def key_revoke(request: HttpRequest, org_slug: str, prefix: str) -> HttpResponse:
    org = principal_of_request(request).organization
    api_key = ApiKey.objects.filter(organization_id=org.pk, prefix=prefix).first()
    if api_key is None:  # unknown here, whether or not another organization has it
        return not_found(request)
    api_key_revoke(api_key=api_key)
    return redirect("org:keys", org_slug=org.slug)
