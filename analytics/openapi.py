"""OpenAPI descriptions for the Analytics API: parameters, page envelopes, errors."""

import copy
import zoneinfo
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)

from analytics.filters import MAX_TAG_FILTERS
from analytics.pagination import MAX_LIMIT
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


# --- the server's rules for query values, stated in the schema ----------------------------
# django-filter describes each filter as a bare string; the hook below (run by
# infraprism.openapi.state_the_rules) replaces each parameter's schema with the rules the views
# enforce, so that a request valid by the schema is accepted and any other is a 400.

_NO_NUL = r"[^\x00]"
_CONTROL = r"\x00-\x1f\x7f-\x9f"  # C0, DEL and C1: Unicode category Cc
# Not empty and not whitespace-only (Python's str.isspace, which is what `\s` matches).
NOT_BLANK = r"\S"
TEXT_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
SESSION_ID_PATTERN = rf"^[^{_CONTROL}]*[^{_CONTROL}\s][^{_CONTROL}]*$"
TAG_FILTER_PATTERN = rf"^[^:\x00]{{1,64}}:{_NO_NUL}{{0,256}}$"
GROUP_BY_PATTERN = rf"^(entity|entity_type|model|provider|session|day|tag:{_NO_NUL}{{1,64}})$"
# Years 0001 and 9999: a bound there, moved to UTC or made exclusive, leaves the datetime range.
DATE_PATTERN = r"^(?!0001-|9999-)"


def _text(max_length: int, pattern: str = TEXT_PATTERN) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": pattern}


def _date_bound() -> dict[str, Any]:
    return {
        "type": "string",
        "anyOf": [{"format": "date"}, {"format": "date-time"}],
        "pattern": DATE_PATTERN,
    }


QUERY_RULES: dict[str, dict[str, Any]] = {
    "entity_type": _text(128),
    "entity_id": _text(128),
    "model": _text(200),
    "provider": _text(64),
    "session_id": _text(256, SESSION_ID_PATTERN),
    "start_date": _date_bound(),
    "end_date": _date_bound(),
    "tz": {"$ref": "#/components/schemas/TimeZone"},
    "tag": {
        "type": "array",
        "maxItems": MAX_TAG_FILTERS,
        "items": {"type": "string", "pattern": TAG_FILTER_PATTERN},
    },
    "min_cost": {"type": "number", "minimum": 0, "maximum": 1e50},
    "min_turns": {"type": "integer", "minimum": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "cursor": {"type": "string", "minLength": 1, "pattern": NOT_BLANK},
    "group_by": {"type": "string", "pattern": GROUP_BY_PATTERN},
}
PATH_RULES = {"session_id": {"type": "string", "pattern": rf"^[^{_CONTROL}]+$"}}


def state_query_rules(document: dict[str, Any]) -> None:
    """Give every Analytics API parameter the schema of the rules its view enforces."""
    document["components"]["schemas"]["TimeZone"] = {
        "type": "string",
        "description": "An IANA time zone name",
        "enum": sorted(zoneinfo.available_timezones()),
    }
    for path, operations in document["paths"].items():
        if not path.startswith("/v1/analytics/"):
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                rules = QUERY_RULES if parameter["in"] == "query" else PATH_RULES
                if (schema := rules.get(parameter["name"])) is not None:
                    parameter["schema"] = copy.deepcopy(schema)
                if parameter["name"] == "tag":
                    parameter.update(style="form", explode=True)
