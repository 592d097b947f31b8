"""Transitional: the dashboard's first CSV export called this; use CSVRenderer.stream."""

from collections.abc import Callable, Iterable
from typing import Any

from django.http import StreamingHttpResponse

from analytics.renderers import CSVRenderer


def csv_response(
    filename: str, header: list[str], rows: Iterable[Any], to_cells: Callable[[Any], list[Any]]
) -> StreamingHttpResponse:
    return CSVRenderer().stream(filename=filename, header=header, rows=rows, to_cells=to_cells)
