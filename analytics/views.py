"""The Analytics API (scope `read`): thin viewsets over the filter sets and selectors."""

from typing import Any
from urllib.parse import urlsplit

from django.db.models import QuerySet
from django.http import Http404, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import openapi
from analytics.csv_export import csv_response
from analytics.filters import AnalyticsFilterSet, EventFilterSet, SessionFilterSet
from analytics.pagination import (
    Ordering,
    decode_cursor,
    encode_cursor,
    keyset_page,
    parse_limit,
)
from analytics.selectors import (
    cost_breakdown,
    cost_group_valid,
    session_metrics,
    session_metrics_by_day,
    session_timeline,
)
from analytics.serializers import CALL_VALUES, SESSION_VALUES, call_item, session_item
from infraprism.viewsets import TenantViewSet
from ingestion.models import Event
from sessions.models import Session

SESSION_ORDERINGS = {
    "last_seen": Ordering("last_seen", descending=False, is_datetime=True),
    "-last_seen": Ordering("last_seen", descending=True, is_datetime=True),
    "first_seen": Ordering("first_seen", descending=False, is_datetime=True),
    "-first_seen": Ordering("first_seen", descending=True, is_datetime=True),
    "total_cost": Ordering("total_cost_nanos", descending=False),
    "-total_cost": Ordering("total_cost_nanos", descending=True),
    "turn_count": Ordering("turn_count", descending=False),
    "-turn_count": Ordering("turn_count", descending=True),
}
DEFAULT_SESSION_ORDER = "-last_seen"
EVENTS_NEWEST_FIRST = Ordering("timestamp", descending=True, is_datetime=True)
CALLS_IN_TIME_ORDER = Ordering("timestamp", descending=False, is_datetime=True)
SESSION_HEADER = [
    "session_id", "entity_type", "entity_id", "turn_count", "total_cost", "input_tokens",
    "output_tokens", "cached_input_tokens", "total_tokens", "first_seen", "last_seen",
    "duration_seconds", "models", "error_count", "tags",
]  # fmt: skip


class AnalyticsViewSet(TenantViewSet):
    """Tenant-scoped, read-only; rejects query parameters it does not know."""

    extra_params: frozenset[str] = frozenset()
    csv_allowed = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        known = set(self.extra_params) | {"format"}
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ValidationError(
                {
                    name: [f"unknown query parameter; known: {', '.join(sorted(known))}"]
                    for name in unknown
                }
            )
        fmt = request.query_params.get("format", "json")
        if fmt not in (("json", "csv") if self.csv_allowed else ("json",)):
            allowed = "json or csv" if self.csv_allowed else "json"
            raise ValidationError({"format": [f"must be {allowed}"]})

    @property
    def wants_csv(self) -> bool:
        return self.request.query_params.get("format") == "csv"

    def filtered(self, queryset: QuerySet[Any] | None = None) -> QuerySet[Any]:
        return self.filter_queryset(queryset if queryset is not None else self.get_queryset())

    def filterset_zone(self) -> Any:
        filterset: AnalyticsFilterSet = self.filterset_class(  # type: ignore[attr-defined]
            self.request.query_params, queryset=self.get_queryset()
        )
        filterset.is_valid()
        return filterset.zone

    def limit(self, default: int = 50) -> int:
        return parse_limit(self.request.query_params.get("limit"), default=default)


class SessionViewSet(AnalyticsViewSet):
    base_queryset = Session.objects.all()
    filterset_class = SessionFilterSet
    extra_params = frozenset({"order_by", "cursor", "limit"})
    csv_allowed = True

    def _ordering(self) -> Ordering:
        raw = self.request.query_params.get("order_by") or DEFAULT_SESSION_ORDER
        if raw not in SESSION_ORDERINGS:
            names = ", ".join(k for k in SESSION_ORDERINGS if not k.startswith("-"))
            raise ValidationError(
                {"order_by": [f"must be one of {names}, each optionally prefixed with '-'"]}
            )
        return SESSION_ORDERINGS[raw]

    @extend_schema(
        operation_id="sessions_list",
        parameters=openapi.LIST_PARAMETERS + openapi.SESSION_LIST_PARAMETERS,
        responses={
            (200, "application/json"): openapi.page_of("SessionPage", openapi.SessionOut),
            (200, "text/csv"): openapi.CSV_BODY,
            **openapi.READ_ERRORS,
        },
        tags=["sessions"],
    )
    def list(self, request: Request) -> HttpResponseBase:
        ordering = self._ordering()
        sessions = self.filtered().values(*SESSION_VALUES)
        if self.wants_csv:
            rows = sessions.order_by(*ordering.order_by()).iterator(chunk_size=2000)
            return csv_response("sessions.csv", SESSION_HEADER, rows, _session_cells)
        page = keyset_page(sessions, ordering, request.query_params.get("cursor"), self.limit())
        return Response(
            {"data": [session_item(row) for row in page.rows], "pagination": page.pagination()}
        )


def _session_cells(row: dict[str, Any]) -> list[Any]:
    item = session_item(row)
    return [";".join(item["models"]) if h == "models" else item[h] for h in SESSION_HEADER]


class SessionDetailViewSet(AnalyticsViewSet):
    """One session, its calls, and its timeline. Session ids may contain '/', so the path is
    parsed by hand (see _split_path)."""

    base_queryset = Session.objects.all()
    extra_params = frozenset({"cursor", "limit"})

    def _session(self, session_id: str) -> dict[str, Any]:
        row = self.get_queryset().filter(session_id=session_id).values(*SESSION_VALUES).first()
        if row is None:
            raise Http404
        return row

    def _calls(self, session_id: str) -> QuerySet[Any]:
        return self.scoped(Event.objects.filter(session_id=session_id))

    def _split_path(self, rest: str) -> tuple[str, bool]:
        """(session_id, is_timeline) from a decoded path that ends in `/timeline`.

        A literal `/timeline` suffix selects the timeline; `%2Ftimeline` is part of the id.
        The raw URI tells them apart when the server provides it (gunicorn, uwsgi); otherwise
        an id that exists as a whole wins.
        """
        raw = self.request.META.get("RAW_URI") or self.request.META.get("REQUEST_URI")
        if raw:
            raw_path = urlsplit(raw).path
            return (rest, False) if not raw_path.endswith("/timeline") else (rest[:-9], True)
        if self.get_queryset().filter(session_id=rest).exists():
            return rest, False
        return rest[:-9], True

    @extend_schema(
        operation_id="sessions_retrieve",
        parameters=[openapi.SESSION_ID_PARAMETER, *openapi.PAGE_PARAMETERS],
        responses={200: openapi.SessionDetailPage, **openapi.READ_ERRORS_404},
        tags=["sessions"],
    )
    def retrieve(self, request: Request, session_id: str) -> Response:
        return self._detail(session_id)

    def _detail(self, session_id: str) -> Response:
        session = self._session(session_id)
        calls = self._calls(session_id).values(*CALL_VALUES)
        page = keyset_page(
            calls, CALLS_IN_TIME_ORDER, self.request.query_params.get("cursor"), self.limit(1000)
        )
        data = session_item(session)
        data["calls"] = [call_item(row, with_session=False) for row in page.rows]
        return Response({"data": data, "pagination": page.pagination()})

    @extend_schema(
        operation_id="sessions_timeline",
        parameters=[openapi.SESSION_ID_PARAMETER, *openapi.PAGE_PARAMETERS],
        responses={200: openapi.TimelinePage, **openapi.READ_ERRORS_404},
        tags=["sessions"],
    )
    def timeline(self, request: Request, session_id: str) -> Response:
        session_id, is_timeline = self._split_path(f"{session_id}/timeline")
        return self._timeline(session_id) if is_timeline else self._detail(session_id)

    def _timeline(self, session_id: str) -> Response:
        self._session(session_id)  # 404 for unknown and other tenants' sessions
        cursor = self.request.query_params.get("cursor")
        after = 0
        if cursor:
            payload = decode_cursor(cursor)
            if payload.get("o") != "timeline" or not isinstance(payload.get("step"), int):
                raise ValidationError({"cursor": ["does not belong to this timeline"]})
            after = payload["step"]
        limit = self.limit(1000)
        steps = session_timeline(self._calls(session_id), after, limit)
        has_more = len(steps) > limit
        steps = steps[:limit]
        next_cursor = (
            encode_cursor({"o": "timeline", "step": steps[-1]["step"]}) if has_more else None
        )
        return Response(
            {
                "data": {"session_id": session_id, "steps": steps},
                "pagination": {"limit": limit, "has_more": has_more, "next_cursor": next_cursor},
            }
        )


class SessionMetricsViewSet(AnalyticsViewSet):
    base_queryset = Session.objects.all()
    filterset_class = SessionFilterSet
    extra_params = frozenset({"interval"})

    @extend_schema(
        operation_id="session_metrics",
        parameters=openapi.LIST_PARAMETERS + openapi.METRICS_PARAMETERS,
        responses={200: openapi.MetricsPage, **openapi.READ_ERRORS},
        tags=["sessions"],
    )
    def list(self, request: Request) -> Response:
        interval = request.query_params.get("interval")
        if interval not in (None, "", "day"):
            raise ValidationError({"interval": ["must be day (or absent)"]})
        sessions = self.filtered()
        data = session_metrics(sessions)
        if interval == "day":
            data["series"] = session_metrics_by_day(sessions, self.filterset_zone())
        return Response({"data": data})


class CostViewSet(AnalyticsViewSet):
    base_queryset = Event.objects.all()
    filterset_class = EventFilterSet
    extra_params = frozenset({"group_by", "cursor", "limit"})
    csv_allowed = True

    @extend_schema(
        operation_id="costs",
        parameters=openapi.LIST_PARAMETERS + openapi.COST_PARAMETERS,
        responses={
            (200, "application/json"): openapi.page_of("CostPage", openapi.CostGroupOut),
            (200, "text/csv"): openapi.CSV_BODY,
            **openapi.READ_ERRORS,
        },
        tags=["costs"],
    )
    def list(self, request: Request) -> HttpResponseBase:
        group_by = request.query_params.get("group_by") or "entity"
        if not cost_group_valid(group_by):
            raise ValidationError(
                {
                    "group_by": [
                        "must be entity, entity_type, model, provider, session, day or "
                        "tag:KEY (KEY 1-64 characters)"
                    ]
                }
            )
        events, zone = self.filtered(), self.filterset_zone()
        if self.wants_csv:
            items, _ = cost_breakdown(events, group_by, zone, 0, 10**9)
            return csv_response("costs.csv", *_cost_csv(group_by, items))
        offset = 0
        if cursor := request.query_params.get("cursor"):
            payload = decode_cursor(cursor)
            if payload.get("o") != f"costs:{group_by}" or not isinstance(payload.get("at"), int):
                raise ValidationError({"cursor": ["does not belong to this grouping"]})
            offset = payload["at"]
        limit = self.limit()
        items, has_more = cost_breakdown(events, group_by, zone, offset, limit)
        next_cursor = (
            encode_cursor({"o": f"costs:{group_by}", "at": offset + limit}) if has_more else None
        )
        return Response(
            {
                "data": items,
                "pagination": {"limit": limit, "has_more": has_more, "next_cursor": next_cursor},
            }
        )


def _cost_csv(group_by: str, items: list[dict[str, Any]]) -> tuple[list[str], Any, Any]:
    numbers = ["call_count", "input_tokens", "output_tokens", "total_cost"]
    if group_by == "entity":
        header = ["entity_type", "entity_id", *numbers]
        return (
            header,
            items,
            lambda i: [i["key"]["entity_type"], i["key"]["entity_id"], *[i[n] for n in numbers]],
        )
    return ["key", *numbers], items, lambda i: [i["key"], *[i[n] for n in numbers]]


class EventListViewSet(AnalyticsViewSet):
    base_queryset = Event.objects.all()
    filterset_class = EventFilterSet
    extra_params = frozenset({"cursor", "limit"})

    @extend_schema(
        operation_id="events_list",
        parameters=openapi.LIST_PARAMETERS + openapi.PAGE_PARAMETERS,
        responses={200: openapi.page_of("EventPage", openapi.CallOut), **openapi.READ_ERRORS},
        tags=["events"],
    )
    def list(self, request: Request) -> Response:
        events = self.filtered().values(*CALL_VALUES)
        page = keyset_page(
            events, EVENTS_NEWEST_FIRST, request.query_params.get("cursor"), self.limit()
        )
        return Response(
            {"data": [call_item(row) for row in page.rows], "pagination": page.pagination()}
        )
