"""The authenticated principal: who is calling, for which organization, allowed to do what.

`request.user` is a principal for every customer-facing request. Permissions, throttles, the
tenant base viewset and the request log read it and never test the credential's type: an API
key today, an organization member (dashboard) as well. Each credential kind implements the
`Principal` protocol below.
"""

from typing import Protocol, runtime_checkable

from infraprism.models import ApiKey, Membership, Organization


@runtime_checkable
class Principal(Protocol):
    is_authenticated: bool

    @property
    def organization(self) -> Organization: ...

    def has_scope(self, scope: str) -> bool: ...

    @property
    def rate_key(self) -> str:
        """Stable identity that rate limits count against (never a secret)."""
        ...

    @property
    def log_label(self) -> str:
        """What the request log line says about the caller (never a secret)."""
        ...


class ApiKeyPrincipal:
    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    @property
    def organization(self) -> Organization:
        return self.api_key.organization

    def has_scope(self, scope: str) -> bool:
        return self.api_key.has_scope(scope)

    @property
    def rate_key(self) -> str:
        return f"key:{self.api_key.pk}"

    @property
    def log_label(self) -> str:
        return f"org={self.organization.slug} key={self.api_key.prefix}"

    def __str__(self) -> str:
        return self.log_label


def principal_of(user: object) -> Principal | None:
    """The request's principal, or None for anonymous requests and Django's own users."""
    return user if isinstance(user, Principal) else None


# What each dashboard role may do, in the API keys' scope vocabulary. Members read; owners and
# admins also manage the organization (API keys now, budgets and webhooks later). Nobody
# ingests through the dashboard, so no role carries `ingest`.
SCOPE_MANAGE = ApiKey.SCOPE_MANAGE
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Membership.ROLE_OWNER: frozenset({ApiKey.SCOPE_READ, SCOPE_MANAGE}),
    Membership.ROLE_ADMIN: frozenset({ApiKey.SCOPE_READ, SCOPE_MANAGE}),
    Membership.ROLE_MEMBER: frozenset({ApiKey.SCOPE_READ}),
}


class MemberPrincipal:
    """A signed-in organization member acting in one organization (the one in the URL)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, membership: Membership) -> None:
        self.membership = membership

    @property
    def organization(self) -> Organization:
        return self.membership.organization

    @property
    def role(self) -> str:
        return self.membership.role

    def has_scope(self, scope: str) -> bool:
        return scope in ROLE_SCOPES.get(self.membership.role, frozenset())

    @property
    def rate_key(self) -> str:
        return f"user:{self.membership.user_id}"

    @property
    def log_label(self) -> str:
        return f"org={self.organization.slug} user={self.membership.user_id}"

    def __str__(self) -> str:
        return self.log_label
