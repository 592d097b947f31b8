"""What every organization page shares: the principal, the switcher, query-string helpers."""

from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from dashboard.access import principal_of_request
from dashboard.selectors import memberships_of
from infraprism.principal import SCOPE_MANAGE

# Query parameters that steer a page rather than filter its data.
PAGE_PARAMS = frozenset({"cursor", "order_by", "group_by", "tag_key"})


def org_page(
    request: HttpRequest,
    template: str,
    section: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    principal = principal_of_request(request)
    base = {
        "principal": principal,
        "org": principal.organization,
        "role": principal.role,
        "can_manage": principal.has_scope(SCOPE_MANAGE),
        "memberships": memberships_of(user=request.user),
        "section": section,
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def filter_params(query: QueryDict) -> QueryDict:
    """The filters of a query string without empty values (an empty form field means "no
    filter", where the API would reject an empty value) and without page-steering keys."""
    cleaned = QueryDict(mutable=True)
    for key, values in query.lists():
        if key in PAGE_PARAMS:
            continue
        kept = [v for v in values if v.strip() != ""]
        if kept:
            cleaned.setlist(key, kept)
    return cleaned


def error_messages(detail: Any) -> dict[str, list[str]]:
    """DRF ValidationError detail -> {param: [reason]} for the page's error list."""
    if isinstance(detail, dict):
        return {
            str(k): [str(v) for v in (vals if isinstance(vals, list) else [vals])]
            for k, vals in detail.items()
        }
    return {"request": [str(d) for d in (detail if isinstance(detail, list) else [detail])]}


def bad_filters_page(
    request: HttpRequest, template: str, section: str, exc: ValidationError
) -> HttpResponse:
    """The page again with its filters and the reasons they were refused (400)."""
    context = {"errors": error_messages(exc.detail), "params": filter_params(request.GET)}
    return org_page(request, template, section, context, status=400)
