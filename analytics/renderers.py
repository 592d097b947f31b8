"""CSV for list endpoints, chosen by DRF content negotiation (`?format=csv` or Accept).

The rows are written as the database cursor yields them: the view hands `stream()` an iterator
and returns a StreamingHttpResponse, so the whole filtered result goes out in one response
without being held in memory. `render()` serves error bodies, which stay JSON.
"""

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

from infraprism.renderers import dumps

# Spreadsheet apps execute cells that start with these; prefix a quote so they stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        # Only error bodies get here (lists stream); the view switches them to JSON.
        return dumps(data)

    def stream(
        self,
        *,
        filename: str,
        header: list[str],
        rows: Iterable[Any],
        to_cells: Callable[[Any], list[Any]],
    ) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield writer.writerow(header)
            for row in rows:
                yield writer.writerow([_cell(v) for v in to_cells(row)])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
