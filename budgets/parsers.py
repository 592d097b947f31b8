"""JSON bodies with numbers kept as exact Decimals (a float would round a limit like
12345678901.123456789 before validation could refuse or keep it)."""

import json
from decimal import Decimal
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class DecimalJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return json.loads(
                stream.read().decode("utf-8"), parse_float=Decimal, parse_constant=_no_constants
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
