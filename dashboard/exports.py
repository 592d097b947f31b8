"""CSV downloads rendered by the API's own CSV code, so a download equals `?format=csv`."""

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from analytics import selectors
from analytics.filters import ReadFilters
from analytics.renderers import CSVRenderer
from analytics.views import SESSION_HEADER, _cost_csv, _session_cells
from infraprism.models import Organization


def sessions_csv(rows: QuerySet[Any, dict[str, Any]]) -> StreamingHttpResponse:
    return CSVRenderer().stream(
        filename="sessions.csv",
        header=SESSION_HEADER,
        rows=rows.iterator(chunk_size=2000),
        to_cells=_session_cells,
    )


def costs_csv(
    *, organization: Organization, filters: ReadFilters, group_by: str
) -> StreamingHttpResponse:
    header, to_cells = _cost_csv(group_by)
    rows = selectors.cost_items(organization=organization, filters=filters, group_by=group_by)
    return CSVRenderer().stream(filename="costs.csv", header=header, rows=rows, to_cells=to_cells)
