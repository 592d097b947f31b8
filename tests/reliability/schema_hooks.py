"""Schemathesis hooks for the two rules of SPEC.md that OpenAPI 3.0 cannot state
(docs/decisions.md, "Hardening: the schema is the contract").

Both act on schema-valid (positive) parts of a generated request only, so every check still
runs on every request:

- a cursor is valid only when this server signed it for the same query: a generated one is
  dropped (negative cases keep theirs: an empty or blank cursor must still be refused);
- an event's timestamp must lie from 2000-01-01 to 5 minutes after receipt, and a tag key has
  1-64 characters without NUL: out-of-range timestamps are moved into the window and bad keys
  renamed (one for one, so the number of tags is unchanged);
- start_date after end_date is a 400 (a rule across two parameters): the two are swapped.

Load with `SCHEMATHESIS_HOOKS=tests.reliability.schema_hooks st run ...`, or import it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import schemathesis
from schemathesis.core.parameters import ParameterLocation

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(minutes=4)  # the server allows 5; a minute for clock and request time


def _positive(case: Any, location: ParameterLocation) -> bool:
    meta = case.meta
    if meta is None:
        return True
    component = meta.components.get(location)
    if component is not None:
        return not component.mode.is_negative
    return not meta.generation.mode.is_negative


def _timestamp(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    latest = datetime.now(UTC) + AHEAD
    if EARLIEST <= moment <= latest:
        return value
    return (EARLIEST if moment < EARLIEST else latest).isoformat()


def _zone(name: Any) -> tzinfo:
    try:
        return ZoneInfo(name) if isinstance(name, str) else UTC
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return UTC


def _instant(bound: str, zone: tzinfo) -> datetime:
    """Where the server starts a bound (dates at midnight in `tz`); unparsable ones first."""
    try:
        if len(bound) == 10:
            return datetime.combine(date.fromisoformat(bound), time.min, tzinfo=zone)
        moment = datetime.fromisoformat(bound.upper().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _tags(tags: Any) -> Any:
    if not isinstance(tags, dict):
        return tags
    fixed: dict[str, Any] = {}
    for number, (key, value) in enumerate(tags.items()):
        ok = isinstance(key, str) and 1 <= len(key) <= 64 and "\x00" not in key
        fixed[key if ok else f"key-{number}"] = value
    return fixed


def _event(event: Any) -> Any:
    if isinstance(event, dict):
        if "timestamp" in event:
            event["timestamp"] = _timestamp(event["timestamp"])
        if "tags" in event:
            event["tags"] = _tags(event["tags"])
    return event


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    if isinstance(case.body, dict) and _positive(case, ParameterLocation.BODY):
        events = case.body.get("events")
        if isinstance(events, list):
            case.body["events"] = [_event(event) for event in events]
        else:
            _event(case.body)
    query = case.query
    if isinstance(query, dict) and _positive(case, ParameterLocation.QUERY):
        query.pop("cursor", None)
        start, end = query.get("start_date"), query.get("end_date")
        if isinstance(start, str) and isinstance(end, str):
            zone = _zone(query.get("tz"))
            bounds = sorted([start, end], key=lambda bound: _instant(bound, zone))
            query["start_date"], query["end_date"] = bounds
