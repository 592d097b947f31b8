"""The event schema (SPEC section 4), compiled once with msgspec.

Type, length and range rules live in the annotations below and nowhere else. msgspec stops at
an item's first error, so a failing item is checked again field by field against a copy of the
schema in which every field is optional: the client gets every bad field, not just the first.
"""

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec

INT32_MAX = 2**31 - 1

NonNegInt = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]
# C0 and C1 control characters and DEL (Unicode category Cc).
NoControlChars = r"^[^\x00-\x1f\x7f-\x9f]*$"

FIELDS: dict[str, Any] = {
    "event_id": Annotated[str, msgspec.Meta(min_length=1, max_length=128)],
    "timestamp": Annotated[datetime, msgspec.Meta(tz=True)],
    "model": Annotated[str, msgspec.Meta(min_length=1, max_length=200)],
    "provider": Annotated[str, msgspec.Meta(max_length=64)],
    "entity_type": Annotated[str, msgspec.Meta(min_length=1, max_length=128)],
    "entity_id": Annotated[str, msgspec.Meta(min_length=1, max_length=128)],
    "session_id": Annotated[
        str, msgspec.Meta(min_length=1, max_length=256, pattern=NoControlChars)
    ],
    "input_tokens": NonNegInt,
    "output_tokens": NonNegInt,
    "cached_input_tokens": NonNegInt,
    # Checked by hand (see validation.py): msgspec would also accept a string for a Decimal.
    "cost": Any,
    "latency_ms": NonNegInt,
    "status": Annotated[str, msgspec.Meta(pattern=r"^(success|error)$")],
    "tags": Annotated[
        dict[
            Annotated[str, msgspec.Meta(min_length=1, max_length=64)],
            Annotated[str, msgspec.Meta(max_length=256)],
        ],
        msgspec.Meta(max_length=50),
    ],
}
REQUIRED = {"model"}


def _struct(name: str, required: set[str]) -> type[msgspec.Struct]:
    fields = [
        (field, annotation) if field in required else (field, annotation | None, None)
        for field, annotation in FIELDS.items()
    ]
    # Required fields must precede optional ones in a Struct definition.
    fields.sort(key=lambda f: len(f) == 3)
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True)


# Typed Any: the fields are generated from FIELDS, which mypy cannot see through.
EventIn: Any = _struct("EventIn", REQUIRED)
EventPartial: Any = _struct("EventPartial", set())


def _decimal(text: str) -> Decimal:
    """Decimal for every non-integer JSON number: costs are read exactly, never through a float.

    An exponent beyond what Decimal can hold (1e99999999999999999999) becomes NaN, which the
    field's own validation then rejects by name.
    """
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


json_decoder = msgspec.json.Decoder(float_hook=_decimal)

# Fast path: a body whose every event passes the schema decodes straight into structs in one C
# pass. Any failure falls back to json_decoder and per-item validation, which name each error.
BatchIn: Any = msgspec.defstruct("BatchIn", [("events", list[EventIn])], forbid_unknown_fields=True)
event_decoder = msgspec.json.Decoder(EventIn, float_hook=_decimal)
batch_decoder = msgspec.json.Decoder(BatchIn, float_hook=_decimal)

_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<outer>[^`]*)`)?)?$")
_FIELD = re.compile(r"^\$\.(?P<field>[A-Za-z0-9_]+)")
_NAMED = re.compile(r"Object (?:contains unknown|missing required) field `(?P<field>[^`]*)`")
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "decimal": "a number with a fraction",
    "float": "a number",
    "bool": "a boolean",
    "null": "null",
    "object": "an object",
    "array": "an array",
    "datetime": "an ISO 8601 datetime",
}


def _plain(reason: str, field: str, part: str = "") -> str:
    """msgspec's wording, said in plain words for API clients."""
    if "unknown field" in reason:
        return "unknown field; check the spelling against the event schema"
    if "missing required field" in reason:
        return "this field is required"
    if "timezone component" in reason:
        return "must include a UTC offset such as Z or +02:00 (naive timestamps are rejected)"
    if "RFC3339" in reason or ("datetime" in reason and "Expected" in reason):
        return "must be an ISO 8601 datetime with offset, for example 2025-01-01T12:00:00Z"
    if "matching regex" in reason:
        if field == "status":
            return "must be 'success' or 'error'"
        return "must not contain control characters"
    # Whose length or type is wrong: the field itself, or the keys or values of `tags`.
    subject = {"key": "tag keys", "value": "tag values"}.get(part, "")
    must = f"{subject} must" if subject else "must"
    if re.match(r"Expected `str` of length >= 1", reason):
        return f"{must} not be empty"
    if m := re.match(r"Expected `str` of length <= (\d+)", reason):
        return f"{must} be at most {m.group(1)} characters"
    if m := re.match(r"Expected `object` of length <= (\d+)", reason):
        return f"must have at most {m.group(1)} keys"
    if m := re.match(r"Expected `int` >= (-?\d+)", reason):
        return f"must be an integer >= {m.group(1)}"
    if m := re.match(r"Expected `int` <= (\d+)", reason):
        return f"must be at most {m.group(1)}"
    if m := re.match(r"Expected `([a-z]+)(?: \| null)?`, got `([a-z]+)`", reason):
        expected = _TYPE_WORDS.get(m.group(1), m.group(1))
        got = _TYPE_WORDS.get(m.group(2), m.group(2))
        return f"{must} be {expected}, not {got}"
    return reason.replace("`", "'")


def field_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    """(field, plain reason) for one msgspec validation error."""
    message = str(exc)
    if named := _NAMED.search(message):
        field = named.group("field")
        return field, _plain(message, field)
    match = _AT.match(message)
    assert match is not None  # the pattern matches any string
    reason = match.group("reason")
    path = match.group("outer") or match.group("path") or ""
    # `key` in `$.tags` is a tag key; `$.tags[...]` is a tag value.
    part = "key" if match.group("outer") else ("value" if path.endswith("[...]") else "")
    field_match = _FIELD.match(path)
    field = field_match.group("field") if field_match else "event"
    if not path or path == "$":
        field = "event"
        if "Expected `object`" in reason:
            return field, "each event must be a JSON object"
    return field, _plain(reason, field, part)


def all_field_errors(item: Any) -> dict[str, list[str]]:
    """Every field error of an item that failed EventIn (slow path, failing items only)."""
    if not isinstance(item, dict):
        return {"event": ["each event must be a JSON object"]}
    errors: dict[str, list[str]] = {}
    for key, value in item.items():
        try:
            msgspec.convert({key: value}, EventPartial, strict=True)
        except msgspec.ValidationError as exc:
            field, reason = field_error(exc)
            errors.setdefault(field if field != "event" else str(key), []).append(reason)
    for field in REQUIRED:
        if field not in item:
            errors.setdefault(field, []).append("this field is required")
        elif item[field] is None:
            errors.setdefault(field, []).append("must not be null: this field is required")
    return errors
