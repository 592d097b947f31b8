"""Serializers that describe the ingestion API in the OpenAPI schema only.

Validation itself is the compiled msgspec schema (schema.py); these mirror it for /v1/schema.
"""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, inline_serializer
from rest_framework import serializers

from infraprism.openapi import COMMON_ERRORS, ErrorBody
from ingestion.schema import INT32_MAX
from ingestion.validation import MAX_COST_USD

__all__ = ["BODY_ENCODING", "COMMON_ERRORS", "INGEST_ERRORS", "ErrorBody"]

# Said in words rather than as a header parameter: a schema-driven fuzzer would otherwise send
# `gzip` with plain bodies and count the 400 as a bug.
BODY_ENCODING = (
    "The body may be sent with `Content-Encoding: gzip` (the 5 MB limit applies to the "
    "decompressed size); any other encoding is a 415. A leading UTF-8 byte order mark is "
    "ignored. Duplicate keys in any JSON object are a 400 naming the key."
)

INGEST_ERRORS = {
    **COMMON_ERRORS,
    413: OpenApiResponse(ErrorBody, description="Request body over 5 MB (after decompression)"),
    415: OpenApiResponse(ErrorBody, description="A Content-Encoding other than gzip or identity"),
}


class EventRequest(serializers.Serializer):
    event_id = serializers.CharField(
        required=False,
        min_length=1,
        max_length=128,
        help_text="Idempotency key; a UUID4 is generated if absent.",
    )
    timestamp = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with offset; defaults to receipt."
    )
    model = serializers.CharField(min_length=1, max_length=200)
    provider = serializers.CharField(required=False, allow_blank=True, max_length=64)
    entity_type = serializers.CharField(required=False, min_length=1, max_length=128)
    entity_id = serializers.CharField(required=False, min_length=1, max_length=128)
    session_id = serializers.CharField(required=False, min_length=1, max_length=256)
    input_tokens = serializers.IntegerField(required=False, min_value=0)
    output_tokens = serializers.IntegerField(required=False, min_value=0)
    cached_input_tokens = serializers.IntegerField(required=False, min_value=0)
    cost = serializers.DecimalField(
        required=False,
        min_value=0,
        max_value=MAX_COST_USD,
        max_digits=None,
        decimal_places=None,
        coerce_to_string=False,
        help_text=(
            f"USD, 0 to {MAX_COST_USD:,} for one call, stored to the nano-dollar (rounded half "
            "to even, once, from the number as sent); computed from the price table when absent."
        ),
    )
    latency_ms = serializers.IntegerField(required=False, min_value=0)
    status = serializers.ChoiceField(choices=["success", "error"], required=False)
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=256), required=False
    )


class BatchRequest(serializers.Serializer):
    events = EventRequest(many=True, help_text="1 to 1,000 events")


class SingleAccepted(serializers.Serializer):
    event_id = serializers.CharField()
    duplicate = serializers.BooleanField()


item_error_fields: dict[str, serializers.Field] = {
    "index": serializers.IntegerField(),
    "event_id": serializers.CharField(allow_null=True),
    "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
}

_counts: dict[str, serializers.Field] = {
    "accepted": serializers.IntegerField(),
    "duplicates": serializers.IntegerField(),
    "rejected": serializers.IntegerField(),
}
BatchResult = inline_serializer(
    "BatchResult",
    fields={
        **_counts,
        "errors": inline_serializer("ItemError", fields=item_error_fields, many=True),
    },
)
# Every event rejected: the batch result with the error code and summary of other 400s.
BatchRejected = inline_serializer(
    "BatchRejected",
    fields={
        "error": serializers.CharField(),
        "detail": serializers.CharField(),
        **_counts,
        "errors": inline_serializer("ItemErrors", fields=item_error_fields, many=True),
    },
)
BatchBadRequest = PolymorphicProxySerializer(
    component_name="BatchBadRequest",
    serializers=[ErrorBody, BatchRejected],
    resource_type_field_name=None,
)


# --- the rules of ingestion/schema.py and validation.py, stated in the schema --------------
# The serializers above give names, types and descriptions; the hook below (run by
# infraprism.openapi.state_the_rules) adds what msgspec and the hand-written checks enforce.
# Not expressible in OpenAPI 3.0 and said in words: a timestamp from 2000-01-01 to 5 minutes
# after receipt, and tag keys of 1-64 characters without NUL (docs/decisions.md).

_NO_NUL = r"^[^\x00]*$"
_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    # Null is read as "left out" for every optional field.
    return {**schema, "nullable": True}


def _event_properties(properties: dict[str, Any]) -> dict[str, Any]:
    def text(name: str, pattern: str = _NO_NUL) -> dict[str, Any]:
        return {**properties[name], "pattern": pattern}

    count = {"type": "integer", "minimum": 0, "maximum": INT32_MAX}
    return {
        "event_id": _nullable(text("event_id")),
        "timestamp": _nullable(properties["timestamp"]),
        "model": text("model"),
        "provider": _nullable(text("provider")),
        "entity_type": _nullable(text("entity_type")),
        "entity_id": _nullable(text("entity_id")),
        "session_id": _nullable(text("session_id", _NO_CONTROL)),
        "input_tokens": _nullable(count),
        "output_tokens": _nullable(count),
        "cached_input_tokens": _nullable(count),
        "cost": _nullable(properties["cost"]),
        "latency_ms": _nullable(count),
        "status": _nullable({"type": "string", "enum": ["success", "error", None]}),
        "tags": _nullable(
            {
                "type": "object",
                "maxProperties": 50,
                "additionalProperties": {"type": "string", "maxLength": 256, "pattern": _NO_NUL},
                "description": "At most 50 tags; keys 1-64 characters, values 0-256, no NUL.",
            }
        ),
    }


# entity_type and entity_id: both (as strings) or neither (absent or null).
_ENTITY_BOTH_OR_NEITHER = [
    {
        "required": ["entity_type", "entity_id"],
        "properties": {"entity_type": {"type": "string"}, "entity_id": {"type": "string"}},
    },
    {
        "properties": {
            "entity_type": {"nullable": True, "enum": [None]},
            "entity_id": {"nullable": True, "enum": [None]},
        }
    },
]


def state_event_rules(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    event = schemas["EventRequestRequest"]
    event["properties"] = _event_properties(event["properties"])
    event["additionalProperties"] = False
    event["anyOf"] = _ENTITY_BOTH_OR_NEITHER
    event["description"] = (
        "One call. Unknown fields are refused; null is read as a field left out. "
        "entity_type and entity_id come together or not at all. timestamp: from "
        "2000-01-01T00:00:00Z to 5 minutes after receipt."
    )
    batch = schemas["BatchRequestRequest"]
    batch["additionalProperties"] = False
    batch["properties"]["events"]["maxItems"] = settings.MAX_BATCH_EVENTS
