"""Dashboard writes: memberships (API keys go through infraprism.services)."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.validators import validate_email
from django.db import transaction

from infraprism.models import Membership, Organization


@dataclass(frozen=True)
class MemberAdded:
    membership: Membership
    user_created: bool
    membership_created: bool


def normalize_email(raw: str) -> str:
    """The username of a member: the email, trimmed and lower-cased so sign-in is not
    case-sensitive about it. Raises django ValidationError when it is not an email."""
    email = raw.strip().lower()
    validate_email(email)
    return email


@transaction.atomic
def member_add(
    *, organization: Organization, email: str, role: str, password: str | None = None
) -> MemberAdded:
    """Join the user with this email (created when missing) to the organization with `role`.

    An existing membership gets the new role. A password, when given, is validated and set;
    a user created without one cannot sign in until an operator sets it.
    """
    if role not in Membership.ROLES:
        raise ValueError(f"role must be one of {', '.join(Membership.ROLES)}")
    username = normalize_email(email)
    user_model = get_user_model()
    user, user_created = user_model.objects.get_or_create(
        username=username, defaults={"email": username}
    )
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
    elif user_created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    membership, membership_created = Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if not membership_created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return MemberAdded(membership, user_created, membership_created)
