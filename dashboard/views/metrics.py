"""Session metrics: the API's numbers and a daily series; two histograms load just after.

The histograms need a second scan of the sessions; fetched by htmx once the page is shown, they
do not hold up the numbers. Their bucket edges come from the page's own 95th percentiles,
passed in the fragment's URL (edges only: the counts are always the database's).
"""

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from dashboard import reads
from dashboard.access import principal_of_request
from dashboard.onboarding import has_no_events, onboarding_context
from dashboard.pages import error_messages, filter_params, org_page


def metrics(request: HttpRequest, org_slug: str) -> HttpResponse:
    org = principal_of_request(request).organization
    params = filter_params(request.GET)
    context: dict[str, Any] = {"params": params, "tags": params.getlist("tag")}
    try:
        filters = reads.read_filters(params, kind="sessions")
    except ValidationError as exc:
        context["errors"] = error_messages(exc.detail)
        return org_page(request, "dashboard/metrics.html", "metrics", context, status=400)
    data = reads.session_metrics(organization=org, filters=filters, interval="day")
    context["metrics"] = data
    context["chart"] = {
        "series": [
            {
                "date": row["date"].isoformat(),
                "session_count": row["session_count"],
                "total_cost": float(row["total_cost"]),
                "avg_turns": row["avg_turns"],
            }
            for row in data["series"]
        ],
    }
    if data["session_count"]:
        edges = params.copy()
        edges["p95_cost"] = format(data["p95_cost"].normalize(), "f")
        edges["p95_turns"] = repr(data["p95_turns"])
        context["histograms_url"] = f"/o/{org.slug}/metrics/histograms/?{edges.urlencode()}"
    if data["session_count"] == 0 and not params and has_no_events(org):
        context.update(onboarding_context(request, org))
    return org_page(request, "dashboard/metrics.html", "metrics", context)


def _edge(query: QueryDict, name: str) -> Decimal:
    try:
        value = Decimal(query.get(name, ""))
    except InvalidOperation:
        raise ValidationError({name: ["must be a number"]}) from None
    if not value.is_finite() or value < 0 or value > Decimal(10**15):
        raise ValidationError({name: ["must be a number from 0 to 1e15"]})
    return value


def metrics_histograms(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The histograms fragment of the metrics page (same filters, edges from the page)."""
    org = principal_of_request(request).organization
    try:
        filters = reads.read_filters(filter_params(request.GET), kind="sessions")
        p95_cost, p95_turns = _edge(request.GET, "p95_cost"), _edge(request.GET, "p95_turns")
    except ValidationError as exc:
        errors = error_messages(exc.detail)
        return render(request, "dashboard/partials/errors.html", {"errors": errors}, status=400)
    histograms = reads.session_histograms(
        organization=org,
        filters=filters,
        metrics={"session_count": 1, "p95_cost": p95_cost, "p95_turns": float(p95_turns)},
    )
    return render(
        request,
        "dashboard/partials/histograms.html",
        {"histograms": histograms, "histograms_json": json.dumps(histograms)},
    )
