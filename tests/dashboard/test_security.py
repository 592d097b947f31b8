"""CSRF on every form, no inline scripts under a strict CSP, framing denied, cookies, and
sign-in throttling (django-axes)."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from infraprism.models import ApiKey, Organization
from tests.dashboard.conftest import PASSWORD

LOGIN = "/accounts/login/"


def test_forms_refuse_a_post_without_the_csrf_token(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    client = signed_in(make_member(org, "owner"))
    assert client.post(f"/o/{org.slug}/keys/", {"name": "x", "scopes": ["read"]}).status_code == 403
    assert not ApiKey.objects.exists()
    assert client.post("/accounts/logout/").status_code == 403
    assert client.get(f"/o/{org.slug}/sessions/").status_code == 200  # still signed in
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(LOGIN, {"username": "a", "password": "b"}).status_code == 403


def test_every_form_carries_the_csrf_token(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    client = signed_in(make_member(org, "owner"))
    ApiKey.objects.create(organization=org, name="k", prefix="ip-abcdefgh", key_hash="0" * 64)
    for path in [f"/o/{org.slug}/keys/", "/accounts/password_change/"]:
        page = client.get(path).content.decode()
        posts = re.findall(r"<form[^>]*method=\"post\".*?</form>", page, flags=re.S)
        assert posts, path
        for form in posts:
            assert 'name="csrfmiddlewaretoken"' in form, (path, form[:200])


def _pages(slug: str) -> list[str]:
    return [
        f"/o/{slug}/sessions/",
        f"/o/{slug}/metrics/",
        f"/o/{slug}/costs/",
        f"/o/{slug}/keys/",
        "/accounts/password_change/",
    ]


def test_pages_send_a_strict_csp_and_have_no_inline_scripts(
    org: Organization, make_member: Callable[..., Any], signed_in: Callable[[Any], Client]
) -> None:
    client = signed_in(make_member(org, "owner"))
    for path in [*_pages(org.slug), LOGIN]:
        response = (Client() if path == LOGIN else client).get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives["script-src"] == "'self'", policy
        assert directives["style-src"] == "'self'", policy
        assert directives["frame-ancestors"] == "'none'", policy
        assert "unsafe" not in policy
        assert response["X-Frame-Options"] == "DENY"
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            # Only external files, or JSON data islands (json_script), which never execute.
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), (path, "event-handler attribute")
        assert not re.search(r"\sstyle=", html), (path, "inline style attribute")


@pytest.mark.django_db
def test_sign_in_sets_an_httponly_secure_session_cookie(
    org: Organization, make_member: Callable[..., Any], settings: Any
) -> None:
    assert settings.DEBUG is False
    make_member(org, "member", email="kim@example.com")
    client = Client()
    response = client.post(LOGIN, {"username": "kim@example.com", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["secure"]
    assert cookie["samesite"] == "Lax"


def test_repeated_failed_sign_ins_lock_the_account_for_that_address(
    org: Organization, make_member: Callable[..., Any], settings: Any
) -> None:
    make_member(org, "member", email="lee@example.com")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        failed = attacker.post(LOGIN, {"username": "lee@example.com", "password": "wrong"})
        assert failed.status_code == 200 and b"do not match" in failed.content
    locked = attacker.post(LOGIN, {"username": "lee@example.com", "password": "wrong"})
    assert locked.status_code == 429
    # Even the right password is refused from there while the lock lasts...
    right = attacker.post(LOGIN, {"username": "lee@example.com", "password": PASSWORD})
    assert right.status_code == 429
    assert b"Too many failed sign-ins" in right.content
    # ...but the member can still sign in from elsewhere.
    member = Client(REMOTE_ADDR="198.51.100.7")
    ok = member.post(LOGIN, {"username": "lee@example.com", "password": PASSWORD})
    assert ok.status_code == 302 and ok["Location"] == "/"


def test_sign_out_ends_access(
    org: Organization, make_member: Callable[..., Any], settings: Any
) -> None:
    make_member(org, "member", email="max@example.com")
    client = Client()
    assert (
        client.post(LOGIN, {"username": "max@example.com", "password": PASSWORD}).status_code == 302
    )
    assert client.get(f"/o/{org.slug}/sessions/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    after = client.get(f"/o/{org.slug}/sessions/")
    assert after.status_code == 302 and after["Location"].startswith(LOGIN)


def test_password_change_needs_the_old_password_and_takes_effect(
    org: Organization, make_member: Callable[..., Any]
) -> None:
    make_member(org, "member", email="ann@example.com")
    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    signed = client.post(
        LOGIN,
        {"username": "ann@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert signed.status_code == 302
    client.get("/accounts/password_change/")
    token = client.cookies["csrftoken"].value
    new = "an-even-longer-passphrase-99"
    wrong = client.post(
        "/accounts/password_change/",
        {
            "old_password": "not-it",
            "new_password1": new,
            "new_password2": new,
            "csrfmiddlewaretoken": token,
        },
    )
    assert wrong.status_code == 200 and "old_password" in wrong.context["form"].errors
    changed = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": new,
            "new_password2": new,
            "csrfmiddlewaretoken": token,
        },
    )
    assert changed.status_code == 302 and changed["Location"] == "/accounts/password_change/done/"
    assert client.get(f"/o/{org.slug}/sessions/").status_code == 200  # still signed in
    fresh = Client()
    assert fresh.post(LOGIN, {"username": "ann@example.com", "password": new}).status_code == 302


def test_sign_in_from_code_needs_no_request_and_is_not_throttled(
    org: Organization, make_member: Callable[..., Any], settings: Any
) -> None:
    # Client.login() calls authenticate() without a request; django-axes' own backend refuses
    # those outright, ours leaves them to the password check.
    make_member(org, "member", email="bo@example.com")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert not client.login(username="bo@example.com", password="wrong")
    assert client.login(username="bo@example.com", password=PASSWORD)
    assert client.get(f"/o/{org.slug}/sessions/").status_code == 200
