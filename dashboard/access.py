"""Who may open an organization's pages: checked once, here, before any dashboard view runs.

Every view under `/o/<org_slug>/` is routed through the `org` URL namespace. This middleware
resolves the signed-in user's membership of that organization and attaches a MemberPrincipal
as `request.principal`; a visitor who is not signed in goes to the sign-in page, and a user
who is not a member (or an organization that does not exist or is disabled) gets the same 404,
as another tenant's data does in the API. Views read the organization from the principal only.
"""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from dashboard.responses import not_found
from dashboard.selectors import membership_get
from infraprism.principal import MemberPrincipal

ORG_NAMESPACE = "org"


class OrganizationAccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or ORG_NAMESPACE not in match.namespaces:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_get(user=request.user, slug=view_kwargs.get("org_slug", ""))
        if membership is None:
            return not_found(request)
        principal = MemberPrincipal(membership)
        request.principal = principal  # type: ignore[attr-defined]
        request.infraprism_principal = principal  # type: ignore[attr-defined]  # request log
        return None


def principal_of_request(request: HttpRequest) -> MemberPrincipal:
    """The member principal the middleware attached; a view reached without it is a wiring
    bug (the middleware missing from settings), never a reason to serve data."""
    principal = getattr(request, "principal", None)
    if not isinstance(principal, MemberPrincipal):
        raise RuntimeError("OrganizationAccessMiddleware did not run for an organization page")
    return principal
