"""The one tenant-scoped base every customer-facing viewset uses.

It owns get_queryset(): subclasses provide `base_queryset` only, and every row they can reach
is filtered by the organization of the authenticated API key. The organization is never read
from the request body or query string.
"""

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets

from infraprism.models import Organization
from infraprism.permissions import HasReadScope
from infraprism.ratelimit import ReadRateThrottle


class TenantViewSet(viewsets.GenericViewSet):
    base_queryset: QuerySet[Any] | None = None
    permission_classes = [HasReadScope]
    throttle_classes = [ReadRateThrottle]
    # No OPTIONS metadata: it would describe views by their docstrings (and 500 on views
    # without a serializer). OPTIONS is a 405 like any other method we do not serve.
    metadata_class = None

    @property
    def organization(self) -> Organization:
        return self.request.auth.organization  # type: ignore[union-attr]

    def scoped(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Any tenant-owned queryset, restricted to the caller's organization."""
        return queryset.filter(organization_id=self.organization.pk)

    def get_queryset(self) -> QuerySet[Any]:
        assert self.base_queryset is not None, f"{type(self).__name__} must set base_queryset"
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request.auth
            return self.base_queryset.none()
        return self.scoped(self.base_queryset.all())
