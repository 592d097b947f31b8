"""Scope permissions: an authenticated principal without the needed scope gets a 403.

They ask the principal (infraprism.principal), never the credential's type: an API key and an
organization member answer `has_scope` each in their own way.
"""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from infraprism.models import ApiKey
from infraprism.principal import principal_of


class _HasScope(BasePermission):
    scope = ""

    @property
    def message(self) -> str:
        return f"This API key lacks the '{self.scope}' scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_of(request.user)
        return principal is not None and principal.has_scope(self.scope)


class HasIngestScope(_HasScope):
    scope = ApiKey.SCOPE_INGEST


class HasReadScope(_HasScope):
    scope = ApiKey.SCOPE_READ


class HasManageScope(_HasScope):
    scope = ApiKey.SCOPE_MANAGE
