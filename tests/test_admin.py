"""Operators' admin: staff only, keys shown once at creation, hashes never shown, revoke."""

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from infraprism.models import ApiKey, Organization
from tests.factories import event

MakeKey = Callable[..., tuple[ApiKey, str]]
KEY_RE = re.compile(r"ip-[A-Za-z0-9_-]{32,}")
EVENT = event(None, cost=0.01)
ADD_URL = "/admin/infraprism/apikey/add/"
CHANGELIST_URL = "/admin/infraprism/apikey/"


def post_event(key: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post("/v1/events", EVENT, format="json")


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def keys_in_messages(response: Any) -> list[str]:
    return [k for m in messages_of(response) for k in KEY_RE.findall(m)]


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_is_sent_to_login() -> None:
    for url in ["/admin/", CHANGELIST_URL, ADD_URL, "/admin/infraprism/organization/"]:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_non_staff_user_cannot_see_admin(django_user_model: Any, org: Organization) -> None:
    user = django_user_model.objects.create_user(username="alice", password="pw-not-used-123")
    client = Client()
    client.force_login(user)

    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")

    response = client.get(CHANGELIST_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")

    response = client.post(ADD_URL, {"organization": org.pk, "name": "x", "scopes": ["read"]})
    assert response.status_code == 302
    assert not ApiKey.objects.exists()


def test_staff_without_permissions_cannot_manage_keys(
    django_user_model: Any, org: Organization, make_key: MakeKey
) -> None:
    user = django_user_model.objects.create_user(
        username="bob", password="pw-not-used-123", is_staff=True
    )
    client = Client()
    client.force_login(user)
    assert client.get(CHANGELIST_URL).status_code == 403
    assert client.get(ADD_URL).status_code == 403

    # With only the view permission: the list is visible, adding is not.
    user.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    make_key(org)
    assert client.get(CHANGELIST_URL).status_code == 200
    assert client.post(ADD_URL, {"organization": org.pk, "name": "x"}).status_code == 403
    assert ApiKey.objects.count() == 1


# --- Creating a key shows it once -----------------------------------------------------------


def test_add_key_shows_plaintext_once_and_it_works(admin_client: Client, org: Organization) -> None:
    response = admin_client.post(
        ADD_URL,
        {
            "organization": org.pk,
            "name": "from-admin",
            "scopes": ["ingest", "read"],
            "expires_at_0": "",
            "expires_at_1": "",
            "_save": "Save",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == CHANGELIST_URL
    shown = keys_in_messages(response)
    assert len(shown) == 1
    (plaintext,) = shown
    assert plaintext in response.content.decode()

    # Exactly one key row, and it is the one shown.
    api_key = ApiKey.objects.get()
    assert api_key.organization == org
    assert api_key.name == "from-admin"
    assert sorted(api_key.scopes) == ["ingest", "read"]
    assert api_key.prefix == plaintext[:11]
    assert api_key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert post_event(plaintext).status_code == 202

    # Never again: not on the list, not on the change page.
    for url in [CHANGELIST_URL, f"/admin/infraprism/apikey/{api_key.pk}/change/"]:
        page = admin_client.get(url)
        assert page.status_code == 200
        assert plaintext not in page.content.decode()
        assert plaintext[11:] not in page.content.decode()
        assert keys_in_messages(page) == []


def test_add_key_with_scope_and_expiry(admin_client: Client, org: Organization) -> None:
    response = admin_client.post(
        ADD_URL,
        {
            "organization": org.pk,
            "name": "reader",
            "scopes": ["read"],
            "expires_at_0": "2099-01-02",
            "expires_at_1": "03:04:05",
            "_save": "Save",
        },
        follow=True,
    )
    (plaintext,) = keys_in_messages(response)
    api_key = ApiKey.objects.get(prefix=plaintext[:11])
    assert api_key.scopes == ["read"]
    assert api_key.expires_at == datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    # A read-only key may not ingest.
    assert post_event(plaintext).status_code == 403


def test_add_key_invalid_form_creates_nothing(admin_client: Client, org: Organization) -> None:
    response = admin_client.post(
        ADD_URL, {"organization": org.pk, "name": "", "scopes": ["write"], "_save": "Save"}
    )
    assert response.status_code == 200  # the form again, with errors
    errors = response.context["adminform"].form.errors
    assert "name" in errors
    assert "scopes" in errors
    assert not ApiKey.objects.exists()
    assert KEY_RE.search(response.content.decode()) is None


# --- Hashes never shown ---------------------------------------------------------------------


def test_changelist_and_change_page_never_show_the_hash(
    admin_client: Client, org: Organization, make_key: MakeKey
) -> None:
    created = [make_key(org, name=f"k{i}") for i in range(3)]

    changelist = admin_client.get(CHANGELIST_URL).content.decode()
    for api_key, plaintext in created:
        assert api_key.prefix in changelist
        assert api_key.key_hash not in changelist
        assert plaintext not in changelist

    api_key, plaintext = created[0]
    change = admin_client.get(f"/admin/infraprism/apikey/{api_key.pk}/change/")
    assert change.status_code == 200
    page = change.content.decode()
    assert api_key.prefix in page
    assert api_key.key_hash not in page
    assert plaintext not in page
    assert "key_hash" not in page

    org_page = admin_client.get(f"/admin/infraprism/organization/{org.pk}/change/")
    assert org_page.status_code == 200
    for api_key, plaintext in created:
        assert api_key.prefix in org_page.content.decode()
        assert api_key.key_hash not in org_page.content.decode()
        assert plaintext not in org_page.content.decode()


def test_search_by_hash_finds_nothing(
    admin_client: Client, org: Organization, make_key: MakeKey
) -> None:
    api_key, _ = make_key(org)
    by_prefix = admin_client.get(CHANGELIST_URL, {"q": api_key.prefix})
    assert list(by_prefix.context["cl"].result_list) == [api_key]
    by_hash = admin_client.get(CHANGELIST_URL, {"q": api_key.key_hash})
    assert list(by_hash.context["cl"].result_list) == []


def test_editing_a_key_keeps_its_secret(
    admin_client: Client, org: Organization, make_key: MakeKey
) -> None:
    api_key, plaintext = make_key(org, name="old-name")
    response = admin_client.post(
        f"/admin/infraprism/apikey/{api_key.pk}/change/",
        {
            "name": "new-name",
            "scopes": ["ingest"],
            "expires_at_0": "",
            "expires_at_1": "",
            "_save": "Save",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert keys_in_messages(response) == []  # no new key issued
    assert ApiKey.objects.count() == 1
    edited = ApiKey.objects.get(pk=api_key.pk)
    assert edited.name == "new-name"
    assert edited.scopes == ["ingest"]
    assert edited.key_hash == api_key.key_hash
    assert edited.prefix == api_key.prefix
    assert post_event(plaintext).status_code == 202


# --- Revoke action --------------------------------------------------------------------------


def test_revoke_action(admin_client: Client, org: Organization, make_key: MakeKey) -> None:
    first, first_plaintext = make_key(org, name="a")
    second, second_plaintext = make_key(org, name="b")
    kept, kept_plaintext = make_key(org, name="c")

    response = admin_client.post(
        CHANGELIST_URL,
        {"action": "revoke_keys", "_selected_action": [first.pk, second.pk], "index": 0},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 2 API key(s)." in messages_of(response)
    first.refresh_from_db()
    second.refresh_from_db()
    kept.refresh_from_db()
    assert first.revoked_at is not None
    assert second.revoked_at is not None
    assert kept.revoked_at is None
    assert post_event(first_plaintext).status_code == 401
    assert post_event(second_plaintext).status_code == 401
    assert post_event(kept_plaintext).status_code == 202


def test_revoke_action_leaves_already_revoked_keys_alone(
    admin_client: Client, org: Organization, make_key: MakeKey
) -> None:
    revoked, _ = make_key(org, name="a")
    fresh, _ = make_key(org, name="b")
    admin_client.post(
        CHANGELIST_URL, {"action": "revoke_keys", "_selected_action": [revoked.pk], "index": 0}
    )
    revoked.refresh_from_db()
    first_time = revoked.revoked_at
    assert first_time is not None

    response = admin_client.post(
        CHANGELIST_URL,
        {"action": "revoke_keys", "_selected_action": [revoked.pk, fresh.pk], "index": 0},
        follow=True,
    )

    assert "Revoked 1 API key(s)." in messages_of(response)
    revoked.refresh_from_db()
    assert revoked.revoked_at == first_time


# --- Inline on the organization page --------------------------------------------------------


def _org_change_data(org: Organization, forms: list[dict[str, Any]], initial: int) -> dict:
    data: dict[str, Any] = {
        "name": org.name,
        "slug": org.slug,
        "is_active": "on" if org.is_active else "",
        "time_zone": org.time_zone,
        "retention_days": "",
        "api_keys-TOTAL_FORMS": str(len(forms)),
        "api_keys-INITIAL_FORMS": str(initial),
        "api_keys-MIN_NUM_FORMS": "0",
        "api_keys-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, form in enumerate(forms):
        for field, value in {
            "id": "",
            "organization": org.pk,
            "expires_at_0": "",
            "expires_at_1": "",
            **form,
        }.items():
            data[f"api_keys-{i}-{field}"] = value
    return data


def test_inline_add_shows_the_key_once(
    admin_client: Client, org: Organization, make_key: MakeKey
) -> None:
    existing, existing_plaintext = make_key(org, name="existing", scopes=("ingest", "read"))
    url = f"/admin/infraprism/organization/{org.pk}/change/"
    data = _org_change_data(
        org,
        [
            {"id": existing.pk, "name": "existing", "scopes": ["ingest", "read"]},
            {"name": "inline-key", "scopes": ["ingest"]},
        ],
        initial=1,
    )

    response = admin_client.post(url, data, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain, response.content.decode()[:2000]
    shown = keys_in_messages(response)
    assert len(shown) == 1
    (plaintext,) = shown
    assert plaintext != existing_plaintext

    assert ApiKey.objects.filter(organization=org).count() == 2
    new = ApiKey.objects.get(organization=org, name="inline-key")
    assert new.scopes == ["ingest"]
    assert new.prefix == plaintext[:11]
    assert new.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert post_event(plaintext).status_code == 202

    # The existing key was saved as it was, not re-issued.
    existing_after = ApiKey.objects.get(pk=existing.pk)
    assert existing_after.key_hash == existing.key_hash
    assert post_event(existing_plaintext).status_code == 202

    # Shown once only.
    page = admin_client.get(url).content.decode()
    assert plaintext not in page
    assert new.prefix in page


def test_inline_add_on_new_organization(admin_client: Client) -> None:
    data = _org_change_data(
        Organization(name="Initech", slug="initech"),
        [{"name": "first", "scopes": ["ingest", "read"], "organization": ""}],
        initial=0,
    )

    response = admin_client.post("/admin/infraprism/organization/add/", data, follow=True)

    assert response.status_code == 200
    org = Organization.objects.get(slug="initech")
    (plaintext,) = keys_in_messages(response)
    api_key = ApiKey.objects.get(organization=org)
    assert api_key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert post_event(plaintext).status_code == 202
