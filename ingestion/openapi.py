"""Serializers that describe the ingestion API in the OpenAPI schema only.

Validation itself is the compiled msgspec schema (schema.py); these mirror it for /v1/schema.
"""

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, inline_serializer
from rest_framework import serializers

from infraprism.openapi import COMMON_ERRORS, ErrorBody
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
