"""Dashboard reads about members: which organizations a user belongs to."""

from typing import Any

from django.db.models import QuerySet

from infraprism.models import Membership


def memberships_of(*, user: Any) -> QuerySet[Membership]:
    """The user's memberships in active organizations, by organization slug."""
    return (
        Membership.objects.filter(user_id=user.pk, organization__is_active=True)
        .select_related("organization")
        .order_by("organization__slug")
    )


def membership_get(*, user: Any, slug: str) -> Membership | None:
    return memberships_of(user=user).filter(organization__slug=slug).first()
