"""The Analytics API (scope `read`): each view parses, calls one selector, and renders."""

from typing import Any

from django.http import Http404, HttpResponseBase
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import openapi, selectors
from analytics.filters import FILTER_SETS, path_session_id, session_ordering
from analytics.pagination import parse_limit, read_position
from analytics.paths import split_timeline_path
from analytics.renderers import CSVRenderer
from analytics.selectors import SESSION_ORDERINGS
from analytics.serializers import (
    SESSION_CSV_HEADER,
    call_item,
    cost_csv_columns,
    session_csv_cells,
    session_item,
)
from analytics.viewsets import AnalyticsViewSet
from infraprism.renderers import ApiJSONRenderer
from ingestion.models import Event
from sessions.models import Session

# Names the dashboard's CSV export imported from here before serializers had them.
SESSION_HEADER, _session_cells, _cost_csv = SESSION_CSV_HEADER, session_csv_cells, cost_csv_columns
MAX_COST_OFFSET = 10**9  # groups; deeper pages are CSV's job


class SessionViewSet(AnalyticsViewSet):
    base_queryset = Session.objects.all()  # for the schema
    filterset_class = FILTER_SETS["sessions"]
    filter_kind = "sessions"
    extra_params = frozenset({"order_by", "cursor", "limit"})
    renderer_classes = [ApiJSONRenderer, CSVRenderer]

    @openapi.sessions_list
    def list(self, request: Request) -> HttpResponseBase:
        order_by = session_ordering(request.query_params)
        self.ordering = SESSION_ORDERINGS[order_by]
        sessions = selectors.session_list(
            organization=self.organization, filters=self.read_filters(), ordering=order_by
        )
        if csv := self.csv_renderer:
            rows = sessions.iterator(chunk_size=2000)
            return csv.stream(
                filename="sessions.csv",
                header=SESSION_CSV_HEADER,
                rows=rows,
                to_cells=session_csv_cells,
            )
        page = self.paginate_queryset(sessions) or []
        return self.get_paginated_response([session_item(row) for row in page])


class SessionDetailViewSet(AnalyticsViewSet):
    """One session, its calls, and its timeline. Session ids may contain '/', so the path is
    parsed by hand (analytics/paths.py)."""

    base_queryset = Session.objects.all()  # for the schema
    extra_params = frozenset({"cursor", "limit"})
    ordering = selectors.CALLS_IN_TIME_ORDER
    page_size = 1000

    def _session_row(self, session_id: str) -> dict[str, Any] | None:
        return selectors.session_get(organization=self.organization, session_id=session_id)

    def _session(self, session_id: str) -> dict[str, Any]:
        row = self._session_row(path_session_id(session_id))
        if row is None:
            raise Http404
        return row

    @openapi.sessions_retrieve
    def retrieve(self, request: Request, session_id: str) -> Response:
        data = session_item(self._session(session_id))
        calls = selectors.session_calls(organization=self.organization, session_id=session_id)
        self.endpoint = f"session:{session_id}"
        page = self.paginate_queryset(calls) or []
        data["calls"] = [call_item(row, with_session=False) for row in page]
        return self.get_paginated_response(data)

    @openapi.sessions_timeline
    def timeline(self, request: Request, session_id: str) -> Response:
        session_id, is_timeline = split_timeline_path(
            f"{session_id}/timeline",
            raw_uri=request.META.get("RAW_URI") or request.META.get("REQUEST_URI"),
            session_exists=lambda sid: self._session_row(sid) is not None,
        )
        if not is_timeline:
            return self.retrieve(request, session_id)
        self._session(session_id)  # 404 for unknown and other tenants' sessions
        codec = self.cursor_codec(f"timeline:{session_id}")
        cursor = request.query_params.get("cursor")
        after = read_position(codec, cursor, name="step", low=1, high=2**62)
        limit = parse_limit(request.query_params.get("limit"), default=self.page_size)
        steps = selectors.session_timeline(
            organization=self.organization,
            session_id=session_id,
            after_step=after,
            limit=limit + 1,
        )
        more = len(steps) > limit
        next_cursor = codec.encode({"step": steps[limit - 1]["step"]}) if more else None
        data = {"session_id": session_id, "steps": steps[:limit]}
        return self.page_response(data, limit=limit, next_cursor=next_cursor)


class SessionMetricsViewSet(AnalyticsViewSet):
    base_queryset = Session.objects.all()  # for the schema
    filterset_class = FILTER_SETS["sessions"]
    filter_kind = "sessions"
    extra_params = frozenset({"interval"})

    @openapi.session_metrics
    def list(self, request: Request) -> Response:
        interval = request.query_params.get("interval")
        if interval not in (None, "day"):
            raise ValidationError({"interval": ["must be day (or absent)"]})
        data = selectors.session_metrics(
            organization=self.organization, filters=self.read_filters(), interval=interval
        )
        return Response({"data": data})


class CostViewSet(AnalyticsViewSet):
    base_queryset = Event.objects.all()  # for the schema
    filterset_class = FILTER_SETS["events"]
    filter_kind = "events"
    extra_params = frozenset({"group_by", "cursor", "limit"})
    renderer_classes = [ApiJSONRenderer, CSVRenderer]

    @openapi.costs
    def list(self, request: Request) -> HttpResponseBase:
        group_by = request.query_params.get("group_by", "entity")
        if "\x00" in group_by or not selectors.cost_group_valid(group_by):
            reason = (
                "must be entity, entity_type, model, provider, session, day or tag:KEY "
                "(KEY 1-64 characters, no NUL)"
            )
            raise ValidationError({"group_by": [reason]})
        organization, filters = self.organization, self.read_filters()
        if csv := self.csv_renderer:
            header, to_cells = cost_csv_columns(group_by)
            rows = selectors.cost_items(
                organization=organization, filters=filters, group_by=group_by
            )
            return csv.stream(filename="costs.csv", header=header, rows=rows, to_cells=to_cells)
        codec = self.cursor_codec("costs", binding=group_by)
        cursor = request.query_params.get("cursor")
        offset = read_position(codec, cursor, name="at", low=1, high=MAX_COST_OFFSET)
        limit = parse_limit(request.query_params.get("limit"))
        items, more = selectors.cost_breakdown(
            organization=organization,
            filters=filters,
            group_by=group_by,
            offset=offset,
            limit=limit,
        )
        more = more and offset + limit <= MAX_COST_OFFSET
        next_cursor = codec.encode({"at": offset + limit}) if more else None
        return self.page_response(items, limit=limit, next_cursor=next_cursor)


class EventListViewSet(AnalyticsViewSet):
    base_queryset = Event.objects.all()  # for the schema
    filterset_class = FILTER_SETS["events"]
    filter_kind = "events"
    extra_params = frozenset({"cursor", "limit"})
    ordering = selectors.EVENTS_NEWEST_FIRST

    @openapi.events_list
    def list(self, request: Request) -> Response:
        events = selectors.event_list(organization=self.organization, filters=self.read_filters())
        page = self.paginate_queryset(events) or []
        return self.get_paginated_response([call_item(row) for row in page])
