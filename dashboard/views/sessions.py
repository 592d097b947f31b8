"""Sessions: the list (filters, sorting, cursor pages, CSV) and one session with its calls."""

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from analytics.pagination import keyset_page
from dashboard import exports, reads
from dashboard.access import principal_of_request
from dashboard.onboarding import has_no_events, onboarding_context
from dashboard.pages import (
    bad_filters_page,
    error_messages,
    filter_params,
    is_htmx,
    org_page,
)
from dashboard.responses import not_found

PAGE_SIZE = 50
CALLS_PAGE_SIZE = 500
TIMELINE_LIMIT = 5000  # steps drawn; a longer session's chart says how many it leaves out
SORTS = [
    ("-last_seen", "Last seen (newest first)"),
    ("last_seen", "Last seen (oldest first)"),
    ("-total_cost", "Cost (highest first)"),
    ("total_cost", "Cost (lowest first)"),
    ("-turn_count", "Turns (most first)"),
    ("turn_count", "Turns (fewest first)"),
    ("-first_seen", "First seen (newest first)"),
    ("first_seen", "First seen (oldest first)"),
]
DEFAULT_SORT = "-last_seen"


def _ordering(query: QueryDict) -> str:
    raw = query.get("order_by") or DEFAULT_SORT
    if raw not in reads.SESSION_ORDERINGS:
        raise ValidationError({"order_by": [f"must be one of {', '.join(k for k, _ in SORTS)}"]})
    return raw


def sessions_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    org = principal_of_request(request).organization
    params = filter_params(request.GET)
    context: dict[str, Any] = {
        "params": params,
        "tags": params.getlist("tag"),
        "sorts": SORTS,
        "order_by": request.GET.get("order_by") or DEFAULT_SORT,
        "query_string": _query_without_cursor(request.GET),
    }
    status = 200
    try:
        ordering = _ordering(request.GET)
        filters = reads.read_filters(params, kind="sessions")
        rows = reads.session_list(organization=org, filters=filters, ordering=ordering)
        codec = reads.cursor_codec(
            organization=org, page="sessions", binding=f"{filters.fingerprint()}|{ordering}"
        )
        page = keyset_page(
            rows,
            ordering=reads.SESSION_ORDERINGS[ordering],
            codec=codec,
            cursor=request.GET.get("cursor") or None,
            limit=PAGE_SIZE,
        )
        context["page"] = page
        # Times read in the zone the dates were chosen in.
        context["zone"], context["zone_name"] = filters.zone, str(filters.zone)
        context["first_page"] = not request.GET.get("cursor")
    except ValidationError as exc:
        context["errors"] = error_messages(exc.detail)
        status = 400
    if status == 200 and not context["page"].rows and not params and has_no_events(org):
        context.update(onboarding_context(request, org))
    template = "dashboard/sessions/_results.html" if is_htmx(request) else None
    if template:
        return render(request, template, {**context, "org": org}, status=status)
    return org_page(request, "dashboard/sessions/list.html", "sessions", context, status)


def _query_without_cursor(query: QueryDict) -> str:
    kept = query.copy()
    kept.pop("cursor", None)
    return filter_params_with_order(kept).urlencode()


def filter_params_with_order(query: QueryDict) -> QueryDict:
    cleaned = filter_params(query)
    if order_by := query.get("order_by"):
        cleaned["order_by"] = order_by
    return cleaned


def sessions_csv(request: HttpRequest, org_slug: str) -> HttpResponseBase:
    org = principal_of_request(request).organization
    try:
        ordering = _ordering(request.GET)
        filters = reads.read_filters(filter_params(request.GET), kind="sessions")
    except ValidationError as exc:
        return bad_filters_page(request, "dashboard/sessions/list.html", "sessions", exc)
    rows = reads.session_list(organization=org, filters=filters, ordering=ordering)
    return exports.sessions_csv(rows)


def session_detail(request: HttpRequest, org_slug: str, session_id: str) -> HttpResponse:
    org = principal_of_request(request).organization
    session = reads.session_get(organization=org, session_id=session_id)
    if session is None:
        return not_found(request)
    calls = reads.session_calls(organization=org, session_id=session_id)
    try:
        page = keyset_page(
            calls,
            ordering=reads.CALLS_IN_TIME_ORDER,
            codec=reads.cursor_codec(organization=org, page="calls", binding=session_id),
            cursor=request.GET.get("cursor") or None,
            limit=CALLS_PAGE_SIZE,
        )
    except ValidationError as exc:
        return org_page(
            request,
            "dashboard/sessions/detail.html",
            "sessions",
            {"session": session, "errors": error_messages(exc.detail)},
            status=400,
        )
    steps = reads.session_timeline(
        organization=org, session_id=session_id, limit=TIMELINE_LIMIT + 1
    )
    context = {
        "session": session,
        "page": page,
        "first_call_number": _first_call_number(request, page, steps),
        "timeline": [_chart_step(step) for step in steps[:TIMELINE_LIMIT]],
        "timeline_truncated": len(steps) > TIMELINE_LIMIT,
        "duration_seconds": (session["last_seen"] - session["first_seen"]).total_seconds(),
    }
    return org_page(request, "dashboard/sessions/detail.html", "sessions", context)


def session_detail_by_query(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The same page for ids a browser cannot keep in a path segment (`.` and `..`)."""
    session_id = request.GET.get("id")
    if not session_id:
        return not_found(request)
    return session_detail(request, org_slug, session_id)


def _first_call_number(request: HttpRequest, page: Any, steps: list[dict[str, Any]]) -> int:
    if not page.rows or not request.GET.get("cursor"):
        return 1
    first_event = page.rows[0]["event_id"]
    return next((s["step"] for s in steps if s["event_id"] == first_event), 1)


def _chart_step(step: dict[str, Any]) -> dict[str, Any]:
    """A timeline step as the chart script reads it: numbers as JSON numbers (costs as
    strings too, so the tooltip can print every digit)."""
    return {
        "step": step["step"],
        "offset_ms": step["offset_ms"],
        "gap_ms": step["gap_ms"],
        "cost": float(step["cost"]),
        "cost_exact": format(step["cost"].normalize(), "f"),
        "cumulative_cost": float(step["cumulative_cost"]),
        "cumulative_exact": format(step["cumulative_cost"].normalize(), "f"),
        "input_tokens": step["input_tokens"],
        "output_tokens": step["output_tokens"],
        "cached_input_tokens": step["cached_input_tokens"],
        "latency_ms": step["latency_ms"],
        "status": step["status"],
        "model": step["model"],
        "timestamp": step["timestamp"].isoformat().replace("+00:00", "Z"),
    }
