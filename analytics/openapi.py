"""OpenAPI descriptions for the Analytics API: parameters, page envelopes, errors."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)

from analytics.serializers import (
    CallOut,
    CostGroupOut,
    MetricsOut,
    PaginationOut,
    SessionDetailOut,
    SessionOut,
    TimelineStepOut,
)
from infraprism.openapi import ErrorBody


def _q(name: str, description: str, **kwargs: Any) -> OpenApiParameter:
    return OpenApiParameter(
        name, kwargs.pop("type", OpenApiTypes.STR), OpenApiParameter.QUERY,
        description=description, **kwargs,
    )  # fmt: skip


PAGE_PARAMETERS = [
    _q("limit", "Page size, 1-1000 (default 50; 1000 for a session's calls)", type=int),
    _q("cursor", "Opaque cursor from pagination.next_cursor"),
]
LIST_PARAMETERS: list[
    OpenApiParameter
] = []  # the filter set's parameters are added by django-filter
SESSION_LIST_PARAMETERS = [
    *PAGE_PARAMETERS,
    _q(
        "order_by",
        "last_seen (default, newest first as -last_seen), first_seen, total_cost, turn_count, "
        "session_id; prefix '-' for descending. For a complete walk through every page while "
        "calls keep arriving, use session_id: the other sort values move as calls arrive",
        enum=[
            "last_seen",
            "-last_seen",
            "first_seen",
            "-first_seen",
            "total_cost",
            "-total_cost",
            "turn_count",
            "-turn_count",
            "session_id",
            "-session_id",
        ],
    ),
    _q("format", "json (default) or csv (streams every matching row)", enum=["json", "csv"]),
]
METRICS_PARAMETERS = [_q("interval", "day: add a per-day series (days in tz)", enum=["day"])]
COST_PARAMETERS = [
    *PAGE_PARAMETERS,
    _q(
        "group_by",
        "entity (default), entity_type, model, provider, session, day, or tag:KEY",
        pattern=r"^(entity|entity_type|model|provider|session|day|tag:.{1,64})$",
    ),
    _q("format", "json (default) or csv", enum=["json", "csv"]),
]
SESSION_ID_PARAMETER = OpenApiParameter(
    "session_id", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="The session id, percent-encoded ('/' as %2F)",
)  # fmt: skip


def envelope(name: str, fields: dict[str, Any]) -> Any:
    """One response object. drf-spectacular would describe the response of a `list` action as
    an array of it; the envelope is the whole response, so it is marked as not many."""
    serializer = inline_serializer(name, fields=fields)
    extend_schema_serializer(many=False)(type(serializer))
    return serializer


def page_of(name: str, item: Any) -> Any:
    return envelope(name, {"data": item(many=True), "pagination": PaginationOut()})


SessionDetailPage = inline_serializer(
    "SessionDetailPage",
    fields={"data": SessionDetailOut(), "pagination": PaginationOut(help_text="Of the calls")},
)
TimelinePage = inline_serializer(
    "TimelinePage",
    fields={
        "data": inline_serializer(
            "Timeline",
            fields={
                "session_id": SessionOut().fields["session_id"].__class__(),
                "steps": TimelineStepOut(many=True),
            },
        ),
        "pagination": PaginationOut(),
    },
)
MetricsPage = envelope("MetricsPage", {"data": MetricsOut()})

CSV_BODY = OpenApiResponse(OpenApiTypes.STR, description="With format=csv: a header row, then rows")

READ_ERRORS = {
    400: OpenApiResponse(ErrorBody, description="A bad query parameter, named in `errors`"),
    401: OpenApiResponse(
        ErrorBody, description="Missing, malformed, unknown, revoked or expired key"
    ),
    403: OpenApiResponse(ErrorBody, description="The key lacks the read scope"),
    429: OpenApiResponse(ErrorBody, description="Rate limit exceeded; see Retry-After"),
}
# Endpoints that also render CSV: their errors are JSON all the same.
READ_ERRORS_AS_JSON = {(code, "application/json"): answer for code, answer in READ_ERRORS.items()}
READ_ERRORS_404 = {
    **READ_ERRORS,
    404: OpenApiResponse(ErrorBody, description="No such session in your organization"),
}


# --- one decorator per operation, applied in views.py ------------------------------------

sessions_list = extend_schema(
    operation_id="sessions_list",
    parameters=LIST_PARAMETERS + SESSION_LIST_PARAMETERS,
    responses={
        (200, "application/json"): page_of("SessionPage", SessionOut),
        (200, "text/csv"): CSV_BODY,
        **READ_ERRORS_AS_JSON,
    },
    tags=["sessions"],
)
sessions_retrieve = extend_schema(
    operation_id="sessions_retrieve",
    parameters=[SESSION_ID_PARAMETER, *PAGE_PARAMETERS],
    responses={200: SessionDetailPage, **READ_ERRORS_404},
    tags=["sessions"],
)
sessions_timeline = extend_schema(
    operation_id="sessions_timeline",
    parameters=[SESSION_ID_PARAMETER, *PAGE_PARAMETERS],
    responses={200: TimelinePage, **READ_ERRORS_404},
    tags=["sessions"],
)
session_metrics = extend_schema(
    operation_id="session_metrics",
    parameters=LIST_PARAMETERS + METRICS_PARAMETERS,
    responses={200: MetricsPage, **READ_ERRORS},
    tags=["sessions"],
)
costs = extend_schema(
    operation_id="costs",
    parameters=LIST_PARAMETERS + COST_PARAMETERS,
    responses={
        (200, "application/json"): page_of("CostPage", CostGroupOut),
        (200, "text/csv"): CSV_BODY,
        **READ_ERRORS_AS_JSON,
    },
    tags=["costs"],
)
events_list = extend_schema(
    operation_id="events_list",
    parameters=LIST_PARAMETERS + PAGE_PARAMETERS,
    responses={200: page_of("EventPage", CallOut), **READ_ERRORS},
    tags=["events"],
)
