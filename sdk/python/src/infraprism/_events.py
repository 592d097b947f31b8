"""One InfraPrism event per LLM call (SPEC section 4), built with as little work as possible on
the caller's thread: the event id and the ISO timestamp are filled in by the sender."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# The call keyword arguments that belong to InfraPrism and never reach OpenAI.
ATTRIBUTION_KWARGS = ("entity_type", "entity_id", "session_id", "tags", "event_id", "cost")

# A failed call's exception class name travels as this tag: the event schema has no error field.
ERROR_TYPE_TAG = "error_type"

Event = dict[str, Any]


@dataclass(slots=True)
class CallContext:
    """What is known when a call starts: its attribution and its clocks."""

    provider: str
    requested_model: str | None
    attribution: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    started_perf: float = field(default_factory=time.perf_counter)


def split_attribution(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove InfraPrism's keyword arguments from an OpenAI call's kwargs (in place).

    Ids and tags are strings on the wire: an application's own ids (`session_id =
    conversation.id`, an int or a UUID) are sent as their text rather than refused.
    """
    found: dict[str, Any] = {}
    for name in ATTRIBUTION_KWARGS:
        if name in kwargs:
            value = kwargs.pop(name)
            if value is None:
                continue
            if name == "tags":
                value = {str(key): str(tag) for key, tag in dict(value).items()}
            elif name != "cost":
                value = str(value)
            found[name] = value
    return found


def usage_tokens(usage: Any) -> dict[str, int]:
    """Input, output and cached input tokens from an OpenAI usage object of any endpoint.

    Chat and embeddings say prompt/completion tokens, Responses says input/output; both count
    cached tokens inside the input, which is what the server's pricing expects.
    """
    if usage is None:
        return {}
    input_tokens = getattr(usage, "prompt_tokens", None)
    if input_tokens is None:
        input_tokens = getattr(usage, "input_tokens", None)
    output_tokens = getattr(usage, "completion_tokens", None)
    if output_tokens is None:
        output_tokens = getattr(usage, "output_tokens", None)
    details = getattr(usage, "prompt_tokens_details", None) or getattr(
        usage, "input_tokens_details", None
    )
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    tokens: dict[str, int] = {}
    if isinstance(input_tokens, int):
        tokens["input_tokens"] = input_tokens
    # Embeddings have no output: zero is the truth there, not a guess.
    tokens["output_tokens"] = output_tokens if isinstance(output_tokens, int) else 0
    if isinstance(cached, int):
        tokens["cached_input_tokens"] = cached
    return tokens


def build_event(
    context: CallContext,
    *,
    model: str | None,
    tokens: dict[str, int] | None,
    error: BaseException | str | None = None,
) -> Event:
    """The event for a finished call. `tokens=None` means unknown: the fields are left out."""
    event: Event = {
        "event_id": context.attribution.get("event_id"),
        "timestamp": context.started_at,
        "model": model or context.requested_model or "unknown",
        "provider": context.provider,
        "latency_ms": max(0, int((time.perf_counter() - context.started_perf) * 1000)),
        "status": "success" if error is None else "error",
    }
    if tokens:
        event.update(tokens)
    for name in ("entity_type", "entity_id", "session_id", "cost"):
        value = context.attribution.get(name)
        if value is not None:
            event[name] = value
    tags = context.attribution.get("tags")
    if error is not None:
        error_type = error if isinstance(error, str) else type(error).__name__
        tags = {ERROR_TYPE_TAG: error_type, **(tags or {})}
    if tags:
        event["tags"] = dict(tags)
    return event


class Finalizer:
    """Fills in what the caller's thread left out: the event id and the ISO timestamp.

    Idempotent, so a retried event keeps its id. Runs on the sender's thread for every event,
    so it is cheap: ids come from one urandom read per batch, and the date-time prefix is
    reused within a second.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def batch(self, events: list[Event]) -> list[Event]:
        random_hex = os.urandom(16 * len(events)).hex()
        for number, event in enumerate(events):
            if event.get("event_id") is None:
                event["event_id"] = _uuid4_text(random_hex[number * 32 : number * 32 + 32])
            timestamp = event.get("timestamp")
            if isinstance(timestamp, float):
                event["timestamp"] = self._iso(timestamp)
        return events

    def _iso(self, timestamp: float) -> str:
        second = int(timestamp)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        micros = min(999_999, int((timestamp - second) * 1_000_000))
        return f"{self._prefix}.{micros:06d}+00:00"


def _uuid4_text(hex32: str) -> str:
    """A random (version 4, RFC 4122 variant) UUID in canonical form from 32 random hex digits."""
    variant = "89ab"[int(hex32[16], 16) & 3]
    return f"{hex32[:8]}-{hex32[8:12]}-4{hex32[13:16]}-{variant}{hex32[17:20]}-{hex32[20:]}"


_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False, default=str).encode


def encode_batch(events: list[Event]) -> bytes:
    """`{"events": [...]}` as JSON. A Decimal cost is written with its exact digits, never
    through a float (json cannot write a Decimal as a number, so it is spliced in)."""
    if not any(isinstance(event.get("cost"), Decimal) for event in events):
        return _encode({"events": events}).encode()
    parts = []
    for event in events:
        cost = event.get("cost")
        if isinstance(cost, Decimal):
            rest = {key: value for key, value in event.items() if key != "cost"}
            text = json.dumps(rest, separators=(",", ":"), default=str)
            parts.append(f'{text[:-1]},"cost":{cost:f}}}')
        else:
            parts.append(json.dumps(event, separators=(",", ":"), default=str))
    return ('{"events":[' + ",".join(parts) + "]}").encode()
