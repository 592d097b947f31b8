"""Scope permissions: an authenticated key without the needed scope gets a 403."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from infraprism.models import ApiKey


class _HasScope(BasePermission):
    scope = ""

    @property
    def message(self) -> str:
        return f"This API key lacks the '{self.scope}' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        return isinstance(api_key, ApiKey) and api_key.has_scope(self.scope)


class HasIngestScope(_HasScope):
    scope = ApiKey.SCOPE_INGEST


class HasReadScope(_HasScope):
    scope = ApiKey.SCOPE_READ
