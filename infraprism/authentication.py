"""Bearer API key authentication for the customer-facing API."""

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from infraprism.models import ApiKey
from infraprism.principal import ApiKeyPrincipal
from infraprism.selectors import api_key_for_plaintext
from infraprism.services import api_key_touch


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ip-...` -> (ApiKeyPrincipal, ApiKey).

    Every failure is a 401 with `WWW-Authenticate: Bearer` (DRF uses authenticate_header()).
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey]:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            raise exceptions.NotAuthenticated("Missing Authorization header: use 'Bearer ip-...'.")
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer ip-...'."
            )
        api_key = api_key_for_plaintext(parts[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.is_revoked:
            raise exceptions.AuthenticationFailed("API key has been revoked.")
        if api_key.is_expired(timezone.now()):
            raise exceptions.AuthenticationFailed("API key has expired.")
        if not api_key.organization.is_active:
            raise exceptions.AuthenticationFailed("Organization is disabled.")
        api_key_touch(api_key=api_key)
        principal = ApiKeyPrincipal(api_key)
        # For the request log line (the Django request outlives DRF's wrapper).
        request._request.infraprism_principal = principal  # type: ignore[attr-defined]
        return principal, api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
