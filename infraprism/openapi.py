"""Shared OpenAPI pieces: the error body, the errors every endpoint can answer, the auth scheme."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

# inline_serializer: a declared field named `errors` would clash with Serializer.errors.
ErrorBody = inline_serializer(
    "ErrorBody",
    fields={
        "error": serializers.CharField(help_text="Machine-readable code"),
        "detail": serializers.CharField(help_text="What went wrong, in plain words"),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Reasons per field or query parameter",
        ),
    },
)


COMMON_ERRORS = {
    401: OpenApiResponse(
        ErrorBody, description="Missing, malformed, unknown, revoked or expired key"
    ),
    403: OpenApiResponse(ErrorBody, description="The key lacks the scope this endpoint needs"),
    413: OpenApiResponse(ErrorBody, description="Request body over 5 MB"),
    429: OpenApiResponse(ErrorBody, description="Rate limit exceeded; see Retry-After"),
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "infraprism.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An InfraPrism API key: `Authorization: Bearer ip-...`",
        }


def state_the_rules(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: the schema states every rule the server enforces
    (bounds, patterns, lengths, unknown fields refused), so it is the contract it keeps."""
    from analytics.openapi import state_query_rules  # imports this module
    from ingestion.openapi import state_event_rules

    state_query_rules(result)
    state_event_rules(result)
    return result
