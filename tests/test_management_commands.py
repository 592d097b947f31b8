"""Operator commands: create_org, create_api_key, revoke_api_key, ensure_demo."""

import hashlib
import re
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from infraprism.models import ApiKey, Organization

EVENT = {"model": "gpt-4o", "cost": 0.01}
KEY_RE = re.compile(r"ip-[A-Za-z0-9_-]{32,}")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "command printed nothing"
    return lines[-1]


def post_event(key: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post("/v1/events", EVENT, format="json")


# --- create_org -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_org_prints_the_slug() -> None:
    output = run("create_org", "acme-corp", "--name", "Acme Corp")
    assert last_line(output) == "acme-corp"
    org = Organization.objects.get(slug="acme-corp")
    assert org.name == "Acme Corp"
    assert org.is_active


@pytest.mark.django_db
def test_create_org_name_defaults_to_slug() -> None:
    assert last_line(run("create_org", "initech")) == "initech"
    assert Organization.objects.get(slug="initech").name == "initech"


@pytest.mark.django_db
def test_create_org_duplicate_slug_is_an_error() -> None:
    run("create_org", "acme", "--name", "Acme Corp")
    with pytest.raises(CommandError, match="already exists"):
        run("create_org", "acme", "--name", "Another Acme")
    assert Organization.objects.filter(slug="acme").count() == 1
    assert Organization.objects.get(slug="acme").name == "Acme Corp"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "slug", ["Acme", "acme corp", "acme_corp!", "acme/corp", "-acme", "", "a" * 65]
)
def test_create_org_invalid_slug_is_an_error(slug: str) -> None:
    with pytest.raises(CommandError, match="slug"):
        run("create_org", slug, "--name", "Acme Corp")
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_create_org_accepts_the_longest_slug() -> None:
    slug = "a" * 64
    assert last_line(run("create_org", slug)) == slug
    assert Organization.objects.filter(slug=slug).exists()


# --- create_api_key -------------------------------------------------------------------------


def test_create_api_key_prints_a_working_key(org: Organization) -> None:
    output = run("create_api_key", "acme", "--name", "ci")
    key = last_line(output)
    assert KEY_RE.fullmatch(key), key

    api_key = ApiKey.objects.get(organization=org, name="ci")
    assert api_key.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert sorted(api_key.scopes) == ["ingest", "read"]
    assert api_key.expires_at is None

    response = post_event(key)
    assert response.status_code == 202, response.content


def test_create_api_key_with_scopes(org: Organization) -> None:
    read_key = last_line(run("create_api_key", "acme", "--name", "reader", "--scopes", "read"))
    ingest_key = last_line(run("create_api_key", "acme", "--name", "writer", "--scopes", "ingest"))
    both_key = last_line(run("create_api_key", "acme", "--name", "both", "--scopes", "ingest,read"))
    assert ApiKey.objects.get(name="reader").scopes == ["read"]
    assert ApiKey.objects.get(name="writer").scopes == ["ingest"]
    assert sorted(ApiKey.objects.get(name="both").scopes) == ["ingest", "read"]

    assert post_event(read_key).status_code == 403
    assert post_event(ingest_key).status_code == 202
    assert post_event(both_key).status_code == 202


@pytest.mark.parametrize("scopes", ["write", "ingest,write", "", ",", "admin"])
def test_create_api_key_bad_scopes_is_an_error(org: Organization, scopes: str) -> None:
    with pytest.raises(CommandError, match="scopes"):
        run("create_api_key", "acme", "--name", "ci", "--scopes", scopes)
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_create_api_key_unknown_org_is_an_error() -> None:
    with pytest.raises(CommandError, match="no organization"):
        run("create_api_key", "nope", "--name", "ci")
    assert not ApiKey.objects.exists()


def test_create_api_key_with_expiry(org: Organization) -> None:
    key = last_line(run("create_api_key", "acme", "--name", "temp", "--expires-in-days", "7"))
    api_key = ApiKey.objects.get(name="temp")
    assert api_key.expires_at is not None
    assert (api_key.expires_at - api_key.created_at).days in (6, 7)
    assert post_event(key).status_code == 202


# --- revoke_api_key -------------------------------------------------------------------------


def test_revoke_api_key_by_prefix(org: Organization) -> None:
    key = last_line(run("create_api_key", "acme", "--name", "ci"))
    other = last_line(run("create_api_key", "acme", "--name", "other"))
    assert post_event(key).status_code == 202
    prefix = key[:11]

    output = run("revoke_api_key", prefix)

    assert prefix in last_line(output)
    assert key[11:] not in output
    api_key = ApiKey.objects.get(prefix=prefix)
    assert api_key.revoked_at is not None
    response = post_event(key)
    assert response.status_code == 401
    assert response.json()["detail"] == "API key has been revoked."
    # Only that key.
    assert ApiKey.objects.get(name="other").revoked_at is None
    assert post_event(other).status_code == 202


def test_revoke_api_key_accepts_the_whole_key(org: Organization) -> None:
    key = last_line(run("create_api_key", "acme", "--name", "ci"))
    run("revoke_api_key", key)
    assert ApiKey.objects.get(prefix=key[:11]).revoked_at is not None
    assert post_event(key).status_code == 401


def test_revoke_api_key_twice_keeps_first_time(org: Organization) -> None:
    key = last_line(run("create_api_key", "acme", "--name", "ci"))
    run("revoke_api_key", key[:11])
    first = ApiKey.objects.get(prefix=key[:11]).revoked_at
    run("revoke_api_key", key[:11])
    assert ApiKey.objects.get(prefix=key[:11]).revoked_at == first


@pytest.mark.django_db
def test_revoke_api_key_unknown_prefix_is_an_error() -> None:
    with pytest.raises(CommandError, match="no API key"):
        run("revoke_api_key", "ip-AAAAAAAA")


# --- ensure_demo ----------------------------------------------------------------------------


def _printed_keys(output: str) -> set[str]:
    return set(KEY_RE.findall(output))


@pytest.mark.django_db
def test_ensure_demo_creates_org_and_key_and_reuses_it(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path

    first = run("ensure_demo")

    org = Organization.objects.get(slug="demo")
    keys = _printed_keys(first)
    assert len(keys) == 1
    (key,) = keys
    key_file = tmp_path / "demo_api_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    api_key = ApiKey.objects.get(organization=org)
    assert api_key.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert sorted(api_key.scopes) == ["ingest", "read"]
    assert post_event(key).status_code == 202

    second = run("ensure_demo")

    assert _printed_keys(second) == {key}
    assert Organization.objects.filter(slug="demo").count() == 1
    assert ApiKey.objects.filter(organization=org).count() == 1
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.django_db
def test_ensure_demo_replaces_a_revoked_key(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    (old,) = _printed_keys(run("ensure_demo"))
    run("revoke_api_key", old[:11])

    (new,) = _printed_keys(run("ensure_demo"))

    assert new != old
    assert (tmp_path / "demo_api_key").read_text().strip() == new
    assert stat.S_IMODE((tmp_path / "demo_api_key").stat().st_mode) == 0o600
    assert post_event(new).status_code == 202
    assert post_event(old).status_code == 401


@pytest.mark.django_db
def test_ensure_demo_replaces_a_key_file_that_is_not_a_key(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    key_file = tmp_path / "demo_api_key"
    key_file.write_text("ip-" + "A" * 43 + "\n")
    key_file.chmod(0o644)

    (key,) = _printed_keys(run("ensure_demo"))

    assert key != "ip-" + "A" * 43
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert post_event(key).status_code == 202
