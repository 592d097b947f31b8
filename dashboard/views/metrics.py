"""Session metrics: the API's numbers, a daily series and two histograms."""

from typing import Any

from django.http import HttpRequest, HttpResponse
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
        "cost_histogram": reads.session_histogram(
            organization=org, filters=filters, measure="cost"
        ),
        "turns_histogram": reads.session_histogram(
            organization=org, filters=filters, measure="turns"
        ),
    }
    if data["session_count"] == 0 and not params and has_no_events(org):
        context.update(onboarding_context(request, org))
    return org_page(request, "dashboard/metrics.html", "metrics", context)
