"""The one tenant-scoped base every customer-facing viewset uses.

The organization comes from the authenticated principal (infraprism.principal: an API key, or
an organization member), never from the request body or query string, and never from a test
of the credential's type. Reads go through selectors that take `organization=self.organization`
and scope themselves; `scoped()` restricts any other tenant-owned queryset.
"""

from typing import Any

from django.db.models import QuerySet
from rest_framework import exceptions, viewsets

from infraprism.models import Organization
from infraprism.permissions import HasReadScope
from infraprism.principal import principal_of
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
        principal = principal_of(self.request.user)
        if principal is None:  # permissions run first; this only guards a misconfigured view
            raise exceptions.NotAuthenticated()
        return principal.organization

    def scoped(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Any tenant-owned queryset, restricted to the caller's organization."""
        return queryset.filter(organization_id=self.organization.pk)

    def get_queryset(self) -> QuerySet[Any]:
        assert self.base_queryset is not None, f"{type(self).__name__} must set base_queryset"
        if getattr(self, "swagger_fake_view", False):  # schema generation: no principal
            return self.base_queryset.none()
        return self.scoped(self.base_queryset.all())
