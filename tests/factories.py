"""The suite's one event factory: every test builds its ingestion events (API bodies) here."""

import enum
import itertools
import json
from typing import Any


class _Numbered(enum.Enum):
    NUMBERED = "numbered"


# The `event_id` default: a fresh number ("evt-000042"), unique within the test run.
NUMBERED = _Numbered.NUMBERED

_event_numbers = itertools.count()


def event(
    event_id: str | None | _Numbered = NUMBERED, *, model: Any = "gpt-4o", **fields: Any
) -> dict[str, Any]:
    """One ingestion event: `model` gpt-4o unless given, any other field as given.

    `event_id` is a fresh number unless given; None leaves it out (the server assigns one).
    `model` (like any field) may be a wrong type on purpose: validation tests send those.
    """
    if event_id is NUMBERED:
        event_id = f"evt-{next(_event_numbers):06d}"
    head = {} if event_id is None else {"event_id": event_id}
    return {**head, "model": model, **fields}


def event_bytes(event_id: str | None = None, **fields: Any) -> bytes:
    """An event (no event_id unless given) as a raw JSON body, for tests that send bytes."""
    return json.dumps(event(event_id, **fields)).encode()
