"""Query parameters of the manage API: known names only, no blanks, each value parsed or a 400
naming the parameter."""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from rest_framework.exceptions import ValidationError

PAGE = ("limit", "cursor")
MAX_ID = 2**63 - 1


def parse_bool(raw: str) -> bool:
    if raw in ("true", "false"):
        return raw == "true"
    raise ValueError("must be true or false")


def parse_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise ValueError(f"must be a whole number from 1 to {MAX_ID}")
    return int(raw)


def parse_time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be an ISO 8601 time with an offset, e.g. 2026-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError("must carry an offset (Z or +hh:mm)")
    return moment


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return raw

    return parse


def read_params(
    query: Mapping[str, Any], parsers: Mapping[str, Callable[[str], Any]]
) -> dict[str, Any]:
    """{name: parsed value} for the filters given; page parameters are left to the paginator."""
    known = set(parsers) | set(PAGE)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in query:
        raw_values = query.getlist(name) if hasattr(query, "getlist") else [query[name]]
        if name not in known:
            errors[name] = [f"unknown query parameter; known: {', '.join(sorted(known))}"]
        elif len(raw_values) != 1:
            errors[name] = ["must be given once"]
        elif not raw_values[0].strip():
            errors[name] = ["must not be empty"]
        elif name in parsers:
            try:
                values[name] = parsers[name](raw_values[0])
            except ValueError as exc:
                errors[name] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return values
