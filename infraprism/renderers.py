"""JSON at the edge: msgspec, money (Decimal) as JSON numbers, times as UTC with `Z`.

A Decimal is written as a JSON number with exactly its decimal digits (msgspec's
decimal_format="number"), never through a float: a float's 53 bits hold every nano-dollar
amount only below about USD 9,007,199 (2^53 nano-dollars), and totals go far beyond. Aware
UTC datetimes (what the database returns) are written with `Z`.
"""

from collections.abc import Mapping
from typing import Any

import msgspec
from django.utils.functional import Promise
from rest_framework.renderers import JSONRenderer


def _default(value: Any) -> Any:
    if isinstance(value, (Promise, str)):  # lazy translations in DRF's error details
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_encoder = msgspec.json.Encoder(decimal_format="number", enc_hook=_default)


def dumps(data: Any) -> bytes:
    return _encoder.encode(data)


class ApiJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return dumps(data)
