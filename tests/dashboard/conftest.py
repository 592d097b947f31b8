"""Dashboard fixtures: members with roles, signed-in Django clients, guide-shaped data."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from dashboard.services import member_add
from infraprism.models import Organization

PASSWORD = "a-long-test-passphrase-42"


@pytest.fixture
def make_member(db: None) -> Callable[..., Any]:
    """make_member(org, role, email=...) -> the user (password PASSWORD)."""

    def make(organization: Organization, role: str = "member", email: str | None = None) -> Any:
        email = email or f"{role}@{organization.slug}.example"
        return member_add(
            organization=organization, email=email, role=role, password=PASSWORD
        ).membership.user

    return make


@pytest.fixture
def signed_in(db: None) -> Callable[[Any], Client]:
    """A Django test client signed in as `user` (CSRF enforced, as in a browser)."""

    def make(user: Any) -> Client:
        client = Client(enforce_csrf_checks=True)
        user.refresh_from_db()  # make_member may have set the password again since
        client.force_login(user)
        return client

    return make
