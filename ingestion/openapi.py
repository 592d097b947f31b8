"""Serializers that describe the ingestion API in the OpenAPI schema only.

Validation itself is the compiled msgspec schema (schema.py); these mirror it for /v1/schema.
"""

from drf_spectacular.utils import PolymorphicProxySerializer, inline_serializer
from rest_framework import serializers

from infraprism.openapi import COMMON_ERRORS, ErrorBody

__all__ = ["COMMON_ERRORS", "ErrorBody"]


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
    cost = serializers.FloatField(
        required=False, min_value=0, help_text="USD; computed from the price table when absent."
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
