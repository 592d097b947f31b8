"""Who may open which dashboard page: members only (404 otherwise), sign-in first, roles."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern

from dashboard import urls as dashboard_urls
from infraprism.models import ApiKey, Organization
from infraprism.principal import MemberPrincipal, Principal, principal_of
from infraprism.services import api_key_create


def _org_paths(slug: str) -> list[str]:
    """One concrete path for every page under /o/<slug>/, from the URLconf itself, so a page
    added later is covered without editing this test."""
    samples = {"session_id": "some/session id", "prefix": "ip-abcdefgh"}
    paths = []
    for pattern in dashboard_urls.org_patterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        for name, value in samples.items():
            route = route.replace(f"<path:{name}>", value).replace(f"<str:{name}>", value)
        assert "<" not in route, route
        paths.append(f"/o/{slug}/{route}")
    return paths


def test_every_org_page_is_a_404_for_a_non_member(
    make_org: Callable[..., Organization],
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    mine, theirs = make_org("mine"), make_org("theirs")
    client = signed_in(make_member(mine, "owner"))
    client.get("/o/mine/sessions/")
    token = {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    for path in _org_paths(theirs.slug) + _org_paths("no-such-org"):
        for method in ("get", "post"):
            response = getattr(client, method)(path, token if method == "post" else None)
            assert response.status_code == 404, (method, path, response.status_code)
            assert b"theirs" not in response.content.lower().replace(b"/o/theirs", b"")


def test_a_disabled_organization_is_a_404(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    client = signed_in(make_member(org, "owner"))
    assert client.get(f"/o/{org.slug}/sessions/").status_code == 200
    Organization.objects.filter(pk=org.pk).update(is_active=False)
    assert client.get(f"/o/{org.slug}/sessions/").status_code == 404


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(org: Organization) -> None:
    client = Client()
    for path in _org_paths(org.slug):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/?next="), path
    home = client.get("/")
    assert home.status_code == 302 and home["Location"].startswith("/accounts/login/")


def test_home_sends_a_member_to_their_organization(
    make_org: Callable[..., Organization],
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
    django_user_model: Any,
) -> None:
    beta, alpha = make_org("beta"), make_org("alpha")
    user = make_member(beta, "member", email="pat@example.com")
    make_member(alpha, "admin", email="pat@example.com")
    response = signed_in(user).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/o/alpha/sessions/"

    loner = django_user_model.objects.create_user(username="loner@example.com")
    response = signed_in(loner).get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert b"not a member of any organization" in response.content


def test_the_switcher_lists_only_the_users_organizations(
    make_org: Callable[..., Organization],
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    one, two, other = make_org("one"), make_org("two"), make_org("other")
    user = make_member(one, "owner", email="sam@example.com")
    make_member(two, "member", email="sam@example.com")
    make_member(other, "owner")
    page = signed_in(user).get("/o/two/metrics/").content.decode()
    assert 'href="/o/one/metrics/"' in page and 'href="/o/two/metrics/"' in page
    assert "/o/other/" not in page


def test_member_principal_scopes_follow_the_role(
    org: Organization, make_member: Callable[..., Any]
) -> None:
    for role, can_manage in (("owner", True), ("admin", True), ("member", False)):
        user = make_member(org, role)
        principal = MemberPrincipal(user.memberships.get(organization=org))
        assert isinstance(principal, Principal)
        assert principal_of(principal) is principal
        assert principal.organization == org
        assert principal.has_scope("read")
        assert principal.has_scope("manage") is can_manage
        assert not principal.has_scope("ingest")
        assert principal.rate_key == f"user:{user.pk}"
        assert principal.log_label == f"org={org.slug} user={user.pk}"


# --- Keys: owners and admins only ------------------------------------------------------------


def _csrf_post(client: Client, path: str, data: dict[str, Any]) -> Any:
    """POST as the page's form would, with the CSRF token the page handed out."""
    client.get(path if path.endswith("/keys/") else path.rsplit("/keys/", 1)[0] + "/keys/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**data, "csrfmiddlewaretoken": token})


def test_a_member_can_neither_open_nor_change_keys(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    api_key, _ = api_key_create(organization=org, name="prod", scopes=["read"])
    client = signed_in(make_member(org, "member"))
    page = client.get(f"/o/{org.slug}/sessions/")
    assert page.status_code == 200
    assert b"/keys/" not in page.content  # no menu entry
    assert client.get(f"/o/{org.slug}/keys/").status_code == 403

    token = client.cookies["csrftoken"].value
    created = client.post(
        f"/o/{org.slug}/keys/", {"name": "x", "scopes": ["read"], "csrfmiddlewaretoken": token}
    )
    assert created.status_code == 403
    revoked = client.post(
        f"/o/{org.slug}/keys/{api_key.prefix}/revoke", {"csrfmiddlewaretoken": token}
    )
    assert revoked.status_code == 403
    assert ApiKey.objects.filter(organization=org).count() == 1
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_create_and_revoke_keys(
    role: str,
    org: Organization,
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    client = signed_in(make_member(org, role))
    listing = client.get(f"/o/{org.slug}/keys/")
    assert listing.status_code == 200
    assert (
        listing["Cache-Control"].startswith("max-age=0") or "no-cache" in listing["Cache-Control"]
    )

    response = _csrf_post(
        client, f"/o/{org.slug}/keys/", {"name": "ci", "scopes": ["ingest"], "expires_in_days": 30}
    )
    assert response.status_code == 200
    api_key = ApiKey.objects.get(organization=org, name="ci")
    assert api_key.scopes == ["ingest"] and api_key.expires_at is not None
    plaintext = response.context["plaintext"]
    assert plaintext.startswith(api_key.prefix) and plaintext.encode() in response.content
    # Shown once: the next visit lists the prefix only.
    again = client.get(f"/o/{org.slug}/keys/")
    assert plaintext.encode() not in again.content
    assert api_key.prefix.encode() in again.content

    revoked = _csrf_post(client, f"/o/{org.slug}/keys/{api_key.prefix}/revoke", {})
    assert revoked.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_a_key_of_another_organization_cannot_be_revoked_from_here(
    make_org: Callable[..., Organization],
    make_member: Callable[..., Any],
    signed_in: Callable[[Any], Client],
) -> None:
    mine, theirs = make_org("mine"), make_org("theirs")
    their_key, _ = api_key_create(organization=theirs, name="theirs", scopes=["read"])
    client = signed_in(make_member(mine, "owner"))
    response = _csrf_post(client, f"/o/mine/keys/{their_key.prefix}/revoke", {})
    assert response.status_code == 404
    their_key.refresh_from_db()
    assert their_key.revoked_at is None


def test_invalid_key_form_names_the_field(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    client = signed_in(make_member(org, "owner"))
    response = _csrf_post(client, f"/o/{org.slug}/keys/", {"name": "", "scopes": ["nope"]})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "scopes"}
    assert not ApiKey.objects.filter(organization=org).exists()
