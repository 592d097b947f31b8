"""DRF parsers for the ingestion bodies: msgspec instead of DRF's JSONParser.

A body whose every event passes the schema decodes straight into structs in one C pass (the
fast path). Anything else is decoded into plain Python objects for per-item validation, which
names each error. Errors here are 4xx in the API's JSON shape, naming `body` or the header.
"""

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import IO, Any

import msgspec
from rest_framework.parsers import BaseParser

from infraprism.errors import ApiError
from ingestion.body import read_body
from ingestion.duplicate_keys import duplicate_key_error, refuse_duplicates
from ingestion.schema import batch_decoder, event_decoder, json_decoder

# Python refuses to read an int of more digits than this (sys.get_int_max_str_digits).
_INT_DIGITS = 4000
_HUGE = 10**_INT_DIGITS


def _bad_body(reason: str) -> ApiError:
    return ApiError(
        status_code=400,
        code="invalid_request",
        detail=reason,
        errors={"body": [reason]},
    )


def _big_numbers(body: bytes) -> Any:
    """Python's own decoder for a body with a number msgspec cannot hold (thousands of digits):
    validation then names the field it was sent in."""

    def integer(text: str) -> int:
        if len(text) <= _INT_DIGITS:
            return int(text)
        # Beyond every field's bound: this stand-in fails validation exactly as the value would.
        return -_HUGE if text.startswith("-") else _HUGE

    return json.loads(
        body, parse_int=integer, parse_float=Decimal, object_pairs_hook=refuse_duplicates
    )


def decode(body: bytes, fast: msgspec.json.Decoder) -> Any:
    """Structs from `fast` when the body fits the schema, otherwise plain Python objects."""
    if duplicate := duplicate_key_error(body):
        raise duplicate
    try:
        return fast.decode(body)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        pass  # the slow path below says what is wrong, field by field
    try:
        return json_decoder.decode(body)
    except msgspec.ValidationError as exc:  # while decoding: an integer of thousands of digits
        reason = str(exc).split(" - at ")[0]
        if "out of range" in reason:
            try:
                return _big_numbers(body)
            except (ValueError, RecursionError):
                pass
        raise _bad_body(f"Request body holds a value that cannot be read ({reason}).") from None
    except msgspec.DecodeError as exc:
        raise _bad_body(f"Request body is not valid JSON ({exc}).") from None
    except UnicodeDecodeError:
        raise _bad_body("Request body is not valid UTF-8.") from None
    except RecursionError:
        raise _bad_body("Request body is nested too deeply.") from None


class _IngestParser(BaseParser):
    # Any Content-Type: clients such as `curl -d` label JSON as a form, and the body is
    # JSON whatever the label says.
    media_type = "*/*"
    fast_decoder: msgspec.json.Decoder

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        request = (parser_context or {})["request"]
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "")
        body = read_body(stream, content_encoding=encoding)
        if not body:  # a gzip member that inflates to nothing
            raise empty_body_error()
        return decode(body, self.fast_decoder)


class EventParser(_IngestParser):
    """POST /v1/events: one event object."""

    fast_decoder = event_decoder


class BatchParser(_IngestParser):
    """POST /v1/events/batch: {"events": [...]}."""

    fast_decoder = batch_decoder


def empty_body_error() -> ApiError:
    return _bad_body("Request body is empty; send a JSON object.")
