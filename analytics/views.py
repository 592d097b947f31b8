"""The Analytics API (scope `read`): each view parses, calls one selector, and renders."""

from typing import Any
from urllib.parse import urlsplit

from django.http import Http404, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import openapi, selectors
from analytics.filters import FILTER_SETS, HAS_CONTROL, Kind, ReadFilters, read_filters
from analytics.negotiation import FormatNegotiation
from analytics.pagination import CursorCodec, KeysetPagination, Ordering, parse_limit
from analytics.renderers import CSVRenderer
from analytics.selectors import SESSION_ORDERINGS
from analytics.serializers import call_item, session_item
from infraprism.renderers import ApiJSONRenderer
from infraprism.viewsets import TenantViewSet
from ingestion.models import Event
from sessions.models import Session

__all__ = ["SESSION_ORDERINGS"]  # the dashboard imported it from here before the selectors
SESSION_HEADER = [
    "session_id", "entity_type", "entity_id", "turn_count", "total_cost", "input_tokens",
    "output_tokens", "cached_input_tokens", "total_tokens", "first_seen", "last_seen",
    "duration_seconds", "models", "error_count", "tags",
]  # fmt: skip
COST_NUMBERS = ["call_count", "input_tokens", "output_tokens", "total_cost"]
MAX_COST_OFFSET = 10**9


class AnalyticsViewSet(TenantViewSet):
    """Tenant-scoped, read-only; rejects query parameters it does not know and empty values."""

    # `filter_kind` names the filters the endpoint takes; `filterset_class` only describes them
    # in the OpenAPI schema (the selectors apply the parsed ReadFilters).
    filter_kind: Kind | None = None
    extra_params: frozenset[str] = frozenset()
    renderer_classes = [ApiJSONRenderer]
    content_negotiation_class = FormatNegotiation
    pagination_class = KeysetPagination
    ordering: Ordering

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # negotiation, authentication, throttles
        known = set(self.extra_params) | {"format"}
        if self.filter_kind is not None:
            known |= set(FILTER_SETS[self.filter_kind].base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            reason = f"unknown query parameter; known: {', '.join(sorted(known))}"
            raise ValidationError({name: [reason] for name in unknown})
        blank = {
            name: ["must not be empty or whitespace-only; leave it out instead"]
            for name in request.query_params
            if any(not v.strip() for v in request.query_params.getlist(name))
        }
        if blank:
            raise ValidationError(blank)
        FormatNegotiation.raise_deferred(request, self)

    def finalize_response(  # type: ignore[override]  # streams CSV too
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        if isinstance(response, Response) and response.status_code >= 400:
            # Errors are JSON whatever format was asked for.
            request.accepted_renderer = ApiJSONRenderer()
            request.accepted_media_type = ApiJSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @property
    def wants_csv(self) -> bool:
        return getattr(self.request, "accepted_renderer", None).__class__ is CSVRenderer

    def read_filters(self) -> ReadFilters:
        assert self.filter_kind is not None
        if not hasattr(self, "_filters"):
            self._filters = read_filters(self.request.query_params, kind=self.filter_kind)
        return self._filters

    def cursor_codec(self, endpoint: str | None = None, binding: str = "") -> CursorCodec:
        """Cursors of this endpoint, bound to the organization, ordering and filters."""
        if self.filter_kind is not None:
            binding = f"{binding}|{self.read_filters().fingerprint()}"
        if hasattr(self, "ordering"):
            binding = f"{binding}|{self.ordering.name}"
        return CursorCodec(
            organization=self.organization,
            endpoint=endpoint or type(self).__name__,
            binding=binding,
        )

    def csv(self, **stream: Any) -> HttpResponseBase:
        renderer = self.request.accepted_renderer
        assert isinstance(renderer, CSVRenderer)
        return renderer.stream(**stream)


class SessionViewSet(AnalyticsViewSet):
    base_queryset = Session.objects.all()  # schema only
    filterset_class = FILTER_SETS["sessions"]
    filter_kind = "sessions"
    extra_params = frozenset({"order_by", "cursor", "limit"})
    renderer_classes = [ApiJSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="sessions_list",
        parameters=openapi.LIST_PARAMETERS + openapi.SESSION_LIST_PARAMETERS,
        responses={
            (200, "application/json"): openapi.page_of("SessionPage", openapi.SessionOut),
            (200, "text/csv"): openapi.CSV_BODY,
            **openapi.READ_ERRORS_AS_JSON,
        },
        tags=["sessions"],
    )
    def list(self, request: Request) -> HttpResponseBase:
        order_by = request.query_params.get("order_by", selectors.DEFAULT_SESSION_ORDERING)
        if order_by not in SESSION_ORDERINGS:
            names = ", ".join(k for k in SESSION_ORDERINGS if not k.startswith("-"))
            raise ValidationError(
                {"order_by": [f"must be one of {names}, each optionally prefixed with '-'"]}
            )
        self.ordering = SESSION_ORDERINGS[order_by]
        sessions = selectors.session_list(
            organization=self.organization, filters=self.read_filters(), ordering=order_by
        )
        if self.wants_csv:
            rows = sessions.iterator(chunk_size=2000)
            return self.csv(
                filename="sessions.csv", header=SESSION_HEADER, rows=rows, to_cells=_session_cells
            )
        page = self.paginate_queryset(sessions)
        return self.get_paginated_response([session_item(row) for row in page or []])


def _session_cells(row: dict[str, Any]) -> list[Any]:
    item = session_item(row)
    return [";".join(item["models"]) if h == "models" else item[h] for h in SESSION_HEADER]


class SessionDetailViewSet(AnalyticsViewSet):
    """One session, its calls, and its timeline. Session ids may contain '/', so the path is
    parsed by hand (see _split_path)."""

    base_queryset = Session.objects.all()  # schema only
    extra_params = frozenset({"cursor", "limit"})
    ordering = selectors.CALLS_IN_TIME_ORDER
    page_size = 1000

    def _session(self, session_id: str) -> dict[str, Any]:
        if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in session_id):
            raise ValidationError({"session_id": [HAS_CONTROL]})  # ingestion refuses them too
        row = selectors.session_get(organization=self.organization, session_id=session_id)
        if row is None:
            raise Http404
        return row

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
        exists = "\x00" not in rest and selectors.session_get(
            organization=self.organization, session_id=rest
        )
        return (rest, False) if exists else (rest[:-9], True)

    @extend_schema(
        operation_id="sessions_retrieve",
        parameters=[openapi.SESSION_ID_PARAMETER, *openapi.PAGE_PARAMETERS],
        responses={200: openapi.SessionDetailPage, **openapi.READ_ERRORS_404},
        tags=["sessions"],
    )
    def retrieve(self, request: Request, session_id: str) -> Response:
        return self._detail(session_id)

    def _detail(self, session_id: str) -> Response:
        data = session_item(self._session(session_id))
        calls = selectors.session_calls(organization=self.organization, session_id=session_id)
        self.endpoint = f"session:{session_id}"
        page = self.paginate_queryset(calls) or []
        data["calls"] = [call_item(row, with_session=False) for row in page]
        return Response({"data": data, "pagination": self.paginator.page.pagination()})  # type: ignore[union-attr]

    def cursor_codec(self, endpoint: str | None = None, binding: str = "") -> CursorCodec:
        return super().cursor_codec(endpoint or self.endpoint, binding)

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
        codec = super().cursor_codec(f"timeline:{session_id}")
        after = 0
        if (cursor := self.request.query_params.get("cursor")) is not None:
            after = codec.decode(cursor).get("step")  # type: ignore[assignment]
            if type(after) is not int or after < 1:
                raise ValidationError({"cursor": ["does not belong to this timeline"]})
        limit = parse_limit(self.request.query_params.get("limit"), default=self.page_size)
        steps = selectors.session_timeline(
            organization=self.organization, session_id=session_id, after_step=after, limit=limit + 1
        )
        has_more = len(steps) > limit
        steps = steps[:limit]
        next_cursor = codec.encode({"step": steps[-1]["step"]}) if has_more else None
        return Response(
            {
                "data": {"session_id": session_id, "steps": steps},
                "pagination": {"limit": limit, "has_more": has_more, "next_cursor": next_cursor},
            }
        )


class SessionMetricsViewSet(AnalyticsViewSet):
    base_queryset = Session.objects.all()  # schema only
    filterset_class = FILTER_SETS["sessions"]
    filter_kind = "sessions"
    extra_params = frozenset({"interval"})

    @extend_schema(
        operation_id="session_metrics",
        parameters=openapi.LIST_PARAMETERS + openapi.METRICS_PARAMETERS,
        responses={200: openapi.MetricsPage, **openapi.READ_ERRORS},
        tags=["sessions"],
    )
    def list(self, request: Request) -> Response:
        interval = request.query_params.get("interval")
        if interval not in (None, "day"):
            raise ValidationError({"interval": ["must be day (or absent)"]})
        data = selectors.session_metrics(
            organization=self.organization, filters=self.read_filters(), interval=interval
        )
        return Response({"data": data})


class CostViewSet(AnalyticsViewSet):
    base_queryset = Event.objects.all()  # schema only
    filterset_class = FILTER_SETS["events"]
    filter_kind = "events"
    extra_params = frozenset({"group_by", "cursor", "limit"})
    renderer_classes = [ApiJSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="costs",
        parameters=openapi.LIST_PARAMETERS + openapi.COST_PARAMETERS,
        responses={
            (200, "application/json"): openapi.page_of("CostPage", openapi.CostGroupOut),
            (200, "text/csv"): openapi.CSV_BODY,
            **openapi.READ_ERRORS_AS_JSON,
        },
        tags=["costs"],
    )
    def list(self, request: Request) -> HttpResponseBase:
        group_by = request.query_params.get("group_by", "entity")
        if "\x00" in group_by or not selectors.cost_group_valid(group_by):
            raise ValidationError(
                {
                    "group_by": [
                        "must be entity, entity_type, model, provider, session, day or "
                        "tag:KEY (KEY 1-64 characters, no NUL)"
                    ]
                }
            )
        organization, filters = self.organization, self.read_filters()
        if self.wants_csv:
            header, to_cells = _cost_csv(group_by)
            rows = selectors.cost_items(
                organization=organization, filters=filters, group_by=group_by
            )
            return self.csv(filename="costs.csv", header=header, rows=rows, to_cells=to_cells)
        codec = self.cursor_codec("costs", binding=group_by)
        offset = 0
        if (cursor := request.query_params.get("cursor")) is not None:
            offset = codec.decode(cursor).get("at")  # type: ignore[assignment]
            if type(offset) is not int or not 0 < offset <= MAX_COST_OFFSET:
                raise ValidationError({"cursor": ["does not belong to this grouping"]})
        limit = parse_limit(request.query_params.get("limit"))
        items, has_more = selectors.cost_breakdown(
            organization=organization,
            filters=filters,
            group_by=group_by,
            offset=offset,
            limit=limit,
        )
        has_more = has_more and offset + limit <= MAX_COST_OFFSET
        next_cursor = codec.encode({"at": offset + limit}) if has_more else None
        return Response(
            {
                "data": items,
                "pagination": {"limit": limit, "has_more": has_more, "next_cursor": next_cursor},
            }
        )


def _cost_csv(group_by: str) -> tuple[list[str], Any]:
    if group_by == "entity":
        return (
            ["entity_type", "entity_id", *COST_NUMBERS],
            lambda i: [i["key"]["entity_type"], i["key"]["entity_id"]]
            + [i[n] for n in COST_NUMBERS],
        )
    return ["key", *COST_NUMBERS], lambda i: [i["key"], *[i[n] for n in COST_NUMBERS]]


class EventListViewSet(AnalyticsViewSet):
    base_queryset = Event.objects.all()  # schema only
    filterset_class = FILTER_SETS["events"]
    filter_kind = "events"
    extra_params = frozenset({"cursor", "limit"})
    ordering = selectors.EVENTS_NEWEST_FIRST

    @extend_schema(
        operation_id="events_list",
        parameters=openapi.LIST_PARAMETERS + openapi.PAGE_PARAMETERS,
        responses={200: openapi.page_of("EventPage", openapi.CallOut), **openapi.READ_ERRORS},
        tags=["events"],
    )
    def list(self, request: Request) -> Response:
        events = selectors.event_list(organization=self.organization, filters=self.read_filters())
        page = self.paginate_queryset(events) or []
        return self.get_paginated_response([call_item(row) for row in page])
