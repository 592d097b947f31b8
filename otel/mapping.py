"""One OTLP span -> one InfraPrism event (the table in docs/api.md, "OTLP mapping").

Only GenAI spans become events: `gen_ai.operation.name` in GENAI_OPERATIONS, or an OpenInference
span of kind LLM. Every other span is ignored (None). Resource attributes apply to each span of
the resource, and a span attribute of the same name wins over them.

For each event field the first attribute present in its list wins, the current semantic
convention name first, then the deprecated ones that instrumentations still send. The mapping
only converts types; the event rules themselves (lengths, ranges, both-or-neither entity) are
checked by the ingestion service like any other event, and `sources` says which attribute
each field came from, so a rejection can name the attribute the client actually sent.
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

GENAI_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
OPENINFERENCE_LLM_KIND = "LLM"
TAG_PREFIX = "infraprism.tag."
ERROR_TYPE = "error.type"

# Event field -> the attributes it is read from, first present wins.
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider")
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
CACHED_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
SESSION = ("infraprism.session_id", "gen_ai.conversation.id", "session.id")
COST = ("infraprism.cost", "llm.cost.total")
ENTITY_TYPE = "infraprism.entity_type"
ENTITY_ID = "infraprism.entity_id"
USER_ID = "user.id"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS_PER_MS = 1_000_000


class SpanMappingError(ValueError):
    """A span that is a GenAI call but cannot be read; the message names the attribute."""


@dataclass
class SpanEvent:
    ref: str  # "<trace id>/<span id>" in hex, for messages
    item: dict[str, Any]  # an event as POST /v1/events takes it
    sources: dict[str, str] = field(default_factory=dict)  # event field -> attribute or span field


def span_ref(span: Span) -> str:
    return f"{span.trace_id.hex()}/{span.span_id.hex()}"


def is_genai_span(attributes: dict[str, Any]) -> bool:
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in GENAI_OPERATIONS:
        return True
    kind = attributes.get("openinference.span.kind")
    return isinstance(kind, str) and kind.upper() == OPENINFERENCE_LLM_KIND


def _first(attributes: dict[str, Any], names: tuple[str, ...]) -> tuple[str, Any] | None:
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return name, value
    return None


def _text(name: str, value: Any) -> str:
    # Ids are sometimes numbers (user.id = 42): their decimal text is the id.
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise SpanMappingError(f"{name}: must be a string, not {_kind(value)}")


def _integer(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise SpanMappingError(f"{name}: must be an integer, not {_kind(value)}")


def _cost(name: str, value: Any) -> Decimal:
    """USD, read exactly: a double through its shortest repr, a string as written."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpanMappingError(f"{name}: must be a number (USD), not {_kind(value)}")
    try:
        return Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise SpanMappingError(f"{name}: must be a number (USD), not {value[:40]!r}") from None


def _tag_value(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    raise SpanMappingError(f"{name}: must be a string, number or boolean, not {_kind(value)}")


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {bytes: "bytes", list: "an array", dict: "a key-value list"}
    return names.get(type(value), type(value).__name__)


def _time(unix_nanos: int) -> datetime:
    # A uint64 of nanoseconds ends in the year 2554: always a valid datetime.
    return _EPOCH + timedelta(microseconds=unix_nanos // 1000)


def _span_ids(span: Span) -> tuple[str, str]:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise SpanMappingError("trace_id: must be 16 bytes and not all zero")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise SpanMappingError("span_id: must be 8 bytes and not all zero")
    return span.trace_id.hex(), span.span_id.hex()


def span_event(span: Span, attributes: dict[str, Any]) -> SpanEvent:
    """The event of a GenAI span; `attributes` are the resource's merged with the span's."""
    trace_hex, span_hex = _span_ids(span)
    if not span.start_time_unix_nano:
        raise SpanMappingError("start_time_unix_nano: is required")
    item: dict[str, Any] = {
        # A re-exported span has the same ids, so it is a duplicate (changes nothing).
        "event_id": f"{trace_hex}-{span_hex}",
        "timestamp": _time(span.start_time_unix_nano),
    }
    sources = {"event_id": "trace_id and span_id", "timestamp": "start_time_unix_nano"}
    if span.end_time_unix_nano:
        if span.end_time_unix_nano < span.start_time_unix_nano:
            raise SpanMappingError("end_time_unix_nano: must not be before start_time_unix_nano")
        elapsed = span.end_time_unix_nano - span.start_time_unix_nano
        item["latency_ms"] = (elapsed + _NANOS_PER_MS // 2) // _NANOS_PER_MS
        sources["latency_ms"] = "end_time_unix_nano"

    def take(event_field: str, names: tuple[str, ...], convert: Any) -> None:
        if (found := _first(attributes, names)) is not None:
            name, value = found
            item[event_field] = convert(name, value)
            sources[event_field] = name

    take("model", MODEL, _text)
    if "model" not in item:
        raise SpanMappingError(f"model: send one of {', '.join(MODEL)}")
    take("provider", PROVIDER, _text)
    take("input_tokens", INPUT_TOKENS, _integer)
    take("output_tokens", OUTPUT_TOKENS, _integer)
    take("cached_input_tokens", CACHED_TOKENS, _integer)
    take("session_id", SESSION, _text)
    take("cost", COST, _cost)
    _entity(attributes, item, sources)
    tags = {
        name[len(TAG_PREFIX) :]: _tag_value(name, value)
        for name, value in attributes.items()
        if name.startswith(TAG_PREFIX) and value is not None
    }
    if tags:
        item["tags"] = tags
        sources["tags"] = f"{TAG_PREFIX}*"
    _status(span, attributes, item, sources)
    return SpanEvent(ref=f"{trace_hex}/{span_hex}", item=item, sources=sources)


def _entity(attributes: dict[str, Any], item: dict[str, Any], sources: dict[str, str]) -> None:
    entity_type, entity_id = attributes.get(ENTITY_TYPE), attributes.get(ENTITY_ID)
    if entity_type is not None or entity_id is not None:
        # Both or neither: a lone one is passed on so the event rules name what is missing.
        sources["entity_type"], sources["entity_id"] = ENTITY_TYPE, ENTITY_ID
        if entity_type is not None:
            item["entity_type"] = _text(ENTITY_TYPE, entity_type)
        if entity_id is not None:
            item["entity_id"] = _text(ENTITY_ID, entity_id)
    elif (user := attributes.get(USER_ID)) is not None:
        item["entity_type"] = "user"
        item["entity_id"] = _text(USER_ID, user)
        sources["entity_type"] = sources["entity_id"] = USER_ID


def _status(
    span: Span, attributes: dict[str, Any], item: dict[str, Any], sources: dict[str, str]
) -> None:
    error_type = attributes.get(ERROR_TYPE)
    if span.status.code == Status.STATUS_CODE_ERROR or error_type not in (None, ""):
        item["status"] = "error"
        sources["status"] = "status.code" if span.status.code else ERROR_TYPE
    if error_type not in (None, "") and f"{TAG_PREFIX}{ERROR_TYPE}" not in attributes:
        # Kept as a tag, so errors can be grouped by their type (GET /v1/analytics/costs).
        item.setdefault("tags", {})[ERROR_TYPE] = _tag_value(ERROR_TYPE, error_type)
