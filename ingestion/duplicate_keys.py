"""Duplicate keys in a JSON object, anywhere in an ingestion body, are a 400 naming the key.

msgspec, like most JSON parsers, keeps the last of two equal keys: `{"events": [...],
"events": []}` would silently drop the first list. jiter (the Rust parser pydantic uses) finds
duplicates in one pass that runs no Python code per event, so every body can be checked before
it is decoded: about 4.5 ms for a 1,000-event batch (328 KiB) on the bench machine.
"""

import json
import re
from typing import Any

import jiter

from infraprism.errors import ApiError

_DUPLICATE = re.compile(
    r'^Detected duplicate key "(?P<key>.*)" at line (?P<line>\d+) column (?P<column>\d+)$', re.S
)


def _unescaped(raw_key: str) -> str:
    """The key as the client meant it (jiter reports it with its JSON escapes)."""
    try:
        key = json.loads(f'"{raw_key}"')
    except ValueError:
        return raw_key
    return key if isinstance(key, str) else raw_key


def _refusal(key: str, where: str) -> ApiError:
    reason = "appears more than once in the same JSON object; send each key once"
    quoted = json.dumps(key, ensure_ascii=False)
    return ApiError(
        status_code=400,
        code="invalid_request",
        detail=f"Duplicate key {quoted} in a JSON object{where}.",
        errors={key: [reason]},
    )


def duplicate_key_error(body: bytes) -> ApiError | None:
    """The 400 for the first duplicate key in `body`, or None.

    Bodies jiter cannot read for any other reason pass: msgspec then says what is wrong (and
    refuse_duplicates() guards the one fallback decoder that would read what jiter cannot).
    """
    try:
        jiter.from_json(body, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError as exc:
        match = _DUPLICATE.match(str(exc))
        if match is None:
            return None
        where = f" (line {match.group('line')}, column {match.group('column')})"
        return _refusal(_unescaped(match.group("key")), where)
    return None


def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook for Python's json decoder: a dict, or the same 400 as above."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _refusal(key, "")
            seen.add(key)
    return obj
