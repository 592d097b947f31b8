"""`python manage.py add_member SLUG EMAIL --role ROLE [--password-stdin]`."""

import sys
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory

from infraprism.models import Membership, Organization

SECRET = "sturdy-passphrase-for-tests-77"


@pytest.fixture(autouse=True)
def _stdin(monkeypatch: pytest.MonkeyPatch) -> StringIO:
    """What the command reads with --password-stdin; tests write to it."""
    stdin = StringIO()
    monkeypatch.setattr(sys, "stdin", stdin)
    return stdin


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    if stdin is not None:
        sys.stdin.seek(0)
        sys.stdin.truncate()
        sys.stdin.write(stdin)
        sys.stdin.seek(0)
    out, err = StringIO(), StringIO()
    call_command("add_member", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _can_sign_in(username: str, password: str) -> bool:
    request = RequestFactory().post("/accounts/login/")  # django-axes wants the request
    return authenticate(request, username=username, password=password) is not None


def test_creates_the_user_with_the_email_as_username(org: Organization) -> None:
    out, _ = run(
        org.slug,
        "New.Person@Example.com",
        "--role",
        "admin",
        "--password-stdin",
        stdin=SECRET + "\n",
    )
    assert out.strip().splitlines()[-1] == f"{org.slug} new.person@example.com admin"
    assert SECRET not in out
    membership = Membership.objects.get(organization=org)
    assert membership.role == "admin"
    assert membership.user.username == membership.user.email == "new.person@example.com"
    assert _can_sign_in("new.person@example.com", SECRET)


def test_an_existing_member_gets_the_new_role_and_keeps_one_membership(
    org: Organization, other_org: Organization
) -> None:
    run(org.slug, "pat@example.com", "--role", "member", "--password-stdin", stdin=SECRET)
    run(org.slug, "PAT@example.com", "--role", "owner")
    run(other_org.slug, "pat@example.com", "--role", "member")
    assert Membership.objects.filter(user__username="pat@example.com").count() == 2
    assert Membership.objects.get(organization=org).role == "owner"
    assert _can_sign_in("pat@example.com", SECRET)  # no --password-stdin: password unchanged


def test_without_a_password_the_new_user_cannot_sign_in_yet(org: Organization) -> None:
    _, err = run(org.slug, "later@example.com", "--role", "member")
    assert "without a password" in err
    user = Membership.objects.get(organization=org).user
    assert not user.has_usable_password()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("nope", "a@example.com", "--role", "member"), None, "no organization"),
        (("{org}", "not-an-email", "--role", "member"), None, "valid email"),
        (("{org}", "a@example.com", "--role", "member", "--password-stdin"), "", "no password"),
        (("{org}", "a@example.com", "--role", "member", "--password-stdin"), "Xq7!", "too short"),
    ],
)
def test_bad_input_is_an_error_that_echoes_no_password(
    org: Organization, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    with pytest.raises(CommandError) as caught:
        run(*[a.format(org=org.slug) for a in args], stdin=stdin)
    assert message in str(caught.value)
    if stdin:
        assert stdin not in str(caught.value)
    assert not Membership.objects.exists()


def test_the_role_must_be_known(org: Organization) -> None:
    with pytest.raises(CommandError):
        run(org.slug, "a@example.com", "--role", "superuser")
