"""Tenant-owned rows: one queryset method that scopes any of them to one organization."""

from typing import Any, TypeVar

from django.db import models

from infraprism.models import Organization

_M = TypeVar("_M", bound=models.Model)


class TenantQuerySet(models.QuerySet[_M]):
    def for_organization(self, organization: Organization) -> "TenantQuerySet[_M]":
        return self.filter(organization_id=organization.pk)


TenantManager: Any = models.Manager.from_queryset(TenantQuerySet)
