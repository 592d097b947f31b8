"""The base of every Analytics API view: the plumbing that is the same for all of them."""

from typing import Any

from django.http import HttpResponseBase
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.filters import EMPTY, FILTER_SETS, Kind, ReadFilters, read_filters
from analytics.negotiation import FormatNegotiation
from analytics.pagination import CursorCodec, KeysetPagination, Ordering
from analytics.renderers import CSVRenderer
from infraprism.renderers import ApiJSONRenderer
from infraprism.viewsets import TenantViewSet


class AnalyticsViewSet(TenantViewSet):
    """Tenant-scoped, read-only; rejects query parameters it does not know and empty values."""

    # `filter_kind` names the filters the endpoint takes; `filterset_class` only describes them
    # in the OpenAPI schema (the selectors apply the parsed ReadFilters). Views that page a
    # queryset set `ordering` for KeysetPagination.
    filter_kind: Kind | None = None
    extra_params: frozenset[str] = frozenset()
    renderer_classes = [ApiJSONRenderer]
    content_negotiation_class = FormatNegotiation
    pagination_class = KeysetPagination
    ordering: Ordering
    endpoint = ""  # names the endpoint in its cursors; the view class's name when empty

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # negotiation, authentication, throttles
        known = set(self.extra_params) | {"format"}
        if self.filter_kind is not None:
            known |= set(FILTER_SETS[self.filter_kind].base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            reason = f"unknown query parameter; known: {', '.join(sorted(known))}"
            raise ValidationError({name: [reason] for name in unknown})
        params = request.query_params
        blank = {n: [EMPTY] for n in params if any(not v.strip() for v in params.getlist(n))}
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
    def csv_renderer(self) -> CSVRenderer | None:
        """The CSV renderer when content negotiation chose it (`?format=csv`)."""
        renderer = getattr(self.request, "accepted_renderer", None)
        return renderer if isinstance(renderer, CSVRenderer) else None

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
            endpoint=endpoint or self.endpoint or type(self).__name__,
            binding=binding,
        )

    def page_response(self, data: Any, *, limit: int, next_cursor: str | None) -> Response:
        """The list envelope for endpoints that page by position (timeline, costs)."""
        pagination = {"limit": limit, "has_more": next_cursor is not None}
        return Response({"data": data, "pagination": {**pagination, "next_cursor": next_cursor}})
