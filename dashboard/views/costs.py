"""Cost attribution: by entity, model, tag key or day, as a table, a bar chart and CSV."""

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from rest_framework.exceptions import ValidationError

from analytics.pagination import CursorCodec
from dashboard import exports, reads
from dashboard.access import principal_of_request
from dashboard.onboarding import has_no_events, onboarding_context
from dashboard.pages import bad_filters_page, error_messages, filter_params, org_page
from infraprism.models import Organization

PAGE_SIZE = 50
GROUPS = [
    ("entity", "Entity"),
    ("model", "Model"),
    ("tag", "Tag"),
    ("day", "Day"),
    ("entity_type", "Entity type"),
    ("provider", "Provider"),
    ("session", "Session"),
]
GROUP_NAMES = {key for key, _ in GROUPS}


def _group_by(query: QueryDict) -> str:
    """`group_by` plus, for tags, `tag_key` (the form's two fields) -> the API's group_by."""
    group = query.get("group_by") or "entity"
    if group not in GROUP_NAMES:
        raise ValidationError({"group_by": [f"must be one of {', '.join(sorted(GROUP_NAMES))}"]})
    if group == "tag":
        key = (query.get("tag_key") or "").strip()
        if not key:
            raise ValidationError({"tag_key": ["name the tag key to group by, e.g. feature"]})
        group = f"tag:{key}"
    if not reads.cost_group_valid(group):
        raise ValidationError({"tag_key": ["must be 1 to 64 characters"]})
    return group


def _codec(org: Organization, filters: reads.ReadFilters, group_by: str) -> CursorCodec:
    return reads.cursor_codec(
        organization=org, page="costs", binding=f"{filters.fingerprint()}|{group_by}"
    )


def _offset(query: QueryDict, codec: CursorCodec) -> int:
    cursor = query.get("cursor")
    if not cursor:
        return 0
    offset = codec.decode(cursor).get("at")
    if type(offset) is not int or offset <= 0:
        raise ValidationError({"cursor": ["does not belong to this grouping"]})
    return offset


def costs(request: HttpRequest, org_slug: str) -> HttpResponse:
    org = principal_of_request(request).organization
    params = filter_params(request.GET)
    context: dict[str, Any] = {
        "params": params,
        "tags": params.getlist("tag"),
        "groups": GROUPS,
        "group": request.GET.get("group_by") or "entity",
        "tag_key": request.GET.get("tag_key", ""),
    }
    try:
        group_by = _group_by(request.GET)
        filters = reads.read_filters(params, kind="events")
        codec = _codec(org, filters, group_by)
        offset = _offset(request.GET, codec)
    except ValidationError as exc:
        context["errors"] = error_messages(exc.detail)
        return org_page(request, "dashboard/costs.html", "costs", context, status=400)
    items, has_more = reads.cost_breakdown(
        organization=org, filters=filters, group_by=group_by, offset=offset, limit=PAGE_SIZE
    )
    steering = QueryDict(mutable=True)
    steering["group_by"] = context["group"]
    if context["group"] == "tag":
        steering["tag_key"] = context["tag_key"]
    base_query = f"{params.urlencode()}&{steering.urlencode()}".lstrip("&")
    context.update(
        {
            "group_by": group_by,
            "group_label": (
                f"Tag {group_by.removeprefix('tag:')}"
                if group_by.startswith("tag:")
                else dict(GROUPS)[group_by]
            ),
            "items": [{**item, "label": _label(item["key"], group_by)} for item in items],
            "offset": offset,
            "base_query": base_query,
            "next_cursor": (codec.encode({"at": offset + PAGE_SIZE}) if has_more else None),
            "chart": {
                "labels": [_label(item["key"], group_by) for item in items[:25]],
                "costs": [float(item["total_cost"]) for item in items[:25]],
                "exact": [format(item["total_cost"].normalize(), "f") for item in items[:25]],
                "calls": [item["call_count"] for item in items[:25]],
            },
        }
    )
    if not items and not params and has_no_events(org):
        context.update(onboarding_context(request, org))
    return org_page(request, "dashboard/costs.html", "costs", context)


def _label(key: Any, group_by: str) -> str:
    if isinstance(key, dict):
        if key.get("entity_type") is None and key.get("entity_id") is None:
            return "(no entity)"
        return f"{key.get('entity_type')}:{key.get('entity_id')}"
    if key is None:
        return f"(no {group_by.removeprefix('tag:')})" if group_by != "session" else "(no session)"
    return str(key)


def costs_csv(request: HttpRequest, org_slug: str) -> HttpResponseBase:
    org = principal_of_request(request).organization
    try:
        group_by = _group_by(request.GET)
        filters = reads.read_filters(filter_params(request.GET), kind="events")
    except ValidationError as exc:
        return bad_filters_page(request, "dashboard/costs.html", "costs", exc)
    return exports.costs_csv(organization=org, filters=filters, group_by=group_by)
