"""API key material and lifecycle: generation, storage, lookup, last use, revoke, expiry."""

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from infraprism import keys
from infraprism.models import ApiKey, Organization
from infraprism.selectors import api_key_for_plaintext
from infraprism.services import (
    ScopeError,
    api_key_create,
    api_key_revoke,
    api_key_touch,
    parse_scopes,
)
from tests.conftest import KeyClient
from tests.factories import event

MakeKey = Callable[..., tuple[ApiKey, str]]
EVENT = event(None, cost=0.01)
URL_SAFE_KEY = re.compile(r"^ip-[A-Za-z0-9_-]{32,}$")


def _apikey_update_statements(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("UPDATE") and "infraprism_apikey" in q["sql"]
    ]


# --- Generation and storage ----------------------------------------------------------------


def test_generated_keys_are_ip_prefixed_url_safe_and_long_enough() -> None:
    generated = [keys.generate_key() for _ in range(200)]
    for key in generated:
        assert URL_SAFE_KEY.match(key), key
        assert len(key) - len("ip-") >= 32
        assert keys.is_well_formed(key)
    assert len(set(generated)) == len(generated)


def test_display_prefix_is_short_and_not_the_secret() -> None:
    key = keys.generate_key()
    prefix = keys.display_prefix(key)
    assert prefix == key[:11]
    assert prefix.startswith("ip-")
    # The prefix leaves at least 32 characters of the key unknown.
    assert len(key) - len(prefix) >= 32


def test_only_hash_and_prefix_are_stored(org: Organization) -> None:
    api_key, plaintext = api_key_create(organization=org, name="ci", scopes=["ingest"])
    assert URL_SAFE_KEY.match(plaintext)

    api_key.refresh_from_db()
    assert api_key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert api_key.prefix == plaintext[:11]
    assert api_key.scopes == ["ingest"]

    # The raw row, every column: neither the plaintext nor its secret tail is anywhere.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM infraprism_apikey WHERE id = %s", [api_key.pk])
        row = cursor.fetchone()
    assert row is not None
    secret_tail = plaintext[len(api_key.prefix) :]
    for value in row:
        assert plaintext not in str(value)
        assert secret_tail not in str(value)


def test_created_keys_are_distinct(org: Organization, make_key: MakeKey) -> None:
    created = [make_key(org) for _ in range(20)]
    assert len({k.prefix for k, _ in created}) == 20
    assert len({k.key_hash for k, _ in created}) == 20
    assert len({p for _, p in created}) == 20


def test_prefix_collision_draws_a_new_key(
    org: Organization, make_key: MakeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing, existing_plaintext = make_key(org)
    fresh = keys.generate_key()
    # Same display prefix as the existing key, different secret.
    colliding = existing_plaintext[:11] + "x" * 40
    draws = iter([colliding, fresh])
    monkeypatch.setattr(keys, "generate_key", lambda: next(draws))

    api_key, plaintext = api_key_create(organization=org, name="second", scopes=["read"])

    assert plaintext == fresh
    assert api_key.prefix == fresh[:11]
    assert ApiKey.objects.filter(organization=org).count() == 2
    # The existing key is untouched.
    existing.refresh_from_db()
    assert existing.key_hash == hashlib.sha256(existing_plaintext.encode()).hexdigest()


def test_parse_scopes() -> None:
    assert parse_scopes("ingest") == ["ingest"]
    assert parse_scopes("read, ingest") == ["ingest", "read"]
    assert parse_scopes("ingest,ingest") == ["ingest"]
    for bad in ["", " , ", "write", "ingest,write", "INGEST"]:
        with pytest.raises(ScopeError):
            parse_scopes(bad)


# --- Lookup by plaintext ------------------------------------------------------------------------


def test_lookup_by_plaintext_finds_the_key(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    make_key(org)  # another key of the same organization
    found = api_key_for_plaintext(plaintext)
    assert found is not None
    assert found.pk == api_key.pk
    assert found.organization.slug == "acme"


def test_lookup_rejects_right_prefix_with_wrong_rest(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    prefix = plaintext[:11]
    rest = plaintext[11:]
    # Well-formed, same prefix (so the row is found), wrong secret.
    assert api_key_for_plaintext(prefix + "A" * len(rest)) is None
    # One character changed at the very end.
    last = "B" if rest[-1] != "B" else "C"
    assert api_key_for_plaintext(plaintext[:-1] + last) is None
    # The stored hash itself is not a key.
    assert api_key_for_plaintext(api_key.key_hash) is None
    assert api_key_for_plaintext(prefix) is None


def test_lookup_rejects_malformed_and_unknown(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org)
    assert api_key_for_plaintext("") is None
    assert api_key_for_plaintext(plaintext[3:]) is None  # without "ip-"
    assert api_key_for_plaintext("sk-" + plaintext[3:]) is None
    assert api_key_for_plaintext(plaintext + "!") is None  # not URL-safe
    assert api_key_for_plaintext(plaintext[:20]) is None  # too short
    assert api_key_for_plaintext(keys.generate_key()) is None  # well-formed, unknown


def test_lookup_compares_hashes_in_constant_time(
    org: Organization, make_key: MakeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_key, plaintext = make_key(org)
    calls: list[tuple[Any, Any]] = []
    real_compare = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)

    assert api_key_for_plaintext(plaintext) is not None
    assert len(calls) == 1
    assert api_key_for_plaintext(plaintext[:11] + "z" * 43) is None
    assert len(calls) == 2
    # What is compared is the SHA-256 of the presented key against the stored hash.
    stored, presented = calls[1]
    assert (
        bytes(presented)
        == hashlib.sha256((plaintext[:11] + "z" * 43).encode()).hexdigest().encode()
    )
    assert bytes(stored) == api_key.key_hash.encode()
    assert bytes(stored) != bytes(presented)


# --- last_used_at ---------------------------------------------------------------------------------


def test_last_used_at_written_on_first_use(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    assert api_key.last_used_at is None
    before = timezone.now()

    response = KeyClient(plaintext, org).post_json("/v1/events", EVENT)

    assert response.status_code == 202, response.content
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    assert before <= api_key.last_used_at <= timezone.now()


def test_last_used_at_not_rewritten_within_a_minute(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    client = KeyClient(plaintext, org)
    assert client.post_json("/v1/events", EVENT).status_code == 202
    api_key.refresh_from_db()
    first_use = api_key.last_used_at
    assert first_use is not None

    with CaptureQueriesContext(connection) as queries:
        assert client.post_json("/v1/events", EVENT).status_code == 202
    assert _apikey_update_statements(queries) == []
    api_key.refresh_from_db()
    assert api_key.last_used_at == first_use


def test_last_used_at_rewritten_after_a_minute(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    stale = timezone.now() - timedelta(seconds=61)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=stale)

    with CaptureQueriesContext(connection) as queries:
        response = KeyClient(plaintext, org).post_json("/v1/events", EVENT)
    assert response.status_code == 202
    assert len(_apikey_update_statements(queries)) == 1
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    assert api_key.last_used_at > stale + timedelta(seconds=60)


def test_touch_within_window_makes_no_query(
    org: Organization, make_key: MakeKey, django_assert_num_queries: Any
) -> None:
    api_key, _ = make_key(org)
    with django_assert_num_queries(1):
        api_key_touch(api_key=api_key)  # first use: one UPDATE
    written = api_key.last_used_at
    assert written is not None

    with django_assert_num_queries(0):
        api_key_touch(api_key=api_key)
    api_key.last_used_at = timezone.now() - timedelta(seconds=59)
    with django_assert_num_queries(0):
        api_key_touch(api_key=api_key)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == written


def test_touch_does_not_overwrite_a_fresher_concurrent_write(
    org: Organization, make_key: MakeKey
) -> None:
    # Another request touched the key 10 s ago; this (stale) instance still thinks "never used".
    api_key, _ = make_key(org)
    recent = timezone.now() - timedelta(seconds=10)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=recent)
    assert api_key.last_used_at is None

    api_key_touch(api_key=api_key)

    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == recent


def test_failed_authentication_does_not_touch_the_key(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    api_key_revoke(api_key=api_key)
    response = KeyClient(plaintext, org).post_json("/v1/events", EVENT)
    assert response.status_code == 401
    api_key.refresh_from_db()
    assert api_key.last_used_at is None


# --- Revoke and expiry --------------------------------------------------------------------------


def test_revoke_sets_revoked_at_once(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    assert not api_key.is_revoked
    before = timezone.now()

    api_key_revoke(api_key=api_key)
    api_key.refresh_from_db()
    assert api_key.is_revoked
    assert api_key.revoked_at is not None
    first = api_key.revoked_at
    assert before <= first <= timezone.now()

    # Revoking again keeps the original time.
    api_key_revoke(api_key=ApiKey.objects.get(pk=api_key.pk))
    api_key.refresh_from_db()
    assert api_key.revoked_at == first

    # The row remains (for audit) but the key no longer authenticates.
    assert KeyClient(plaintext, org).post_json("/v1/events", EVENT).status_code == 401


def test_revoking_one_key_leaves_the_others_working(org: Organization, make_key: MakeKey) -> None:
    revoked, revoked_plaintext = make_key(org)
    _, other_plaintext = make_key(org)
    api_key_revoke(api_key=revoked)
    assert KeyClient(revoked_plaintext, org).post_json("/v1/events", EVENT).status_code == 401
    assert KeyClient(other_plaintext, org).post_json("/v1/events", EVENT).status_code == 202


def test_is_expired() -> None:
    now = timezone.now()
    assert not ApiKey(expires_at=None).is_expired(now)
    assert not ApiKey(expires_at=now + timedelta(seconds=1)).is_expired(now)
    assert ApiKey(expires_at=now).is_expired(now)
    assert ApiKey(expires_at=now - timedelta(seconds=1)).is_expired(now)
    assert ApiKey(expires_at=timezone.now() - timedelta(days=1)).is_expired()


def test_key_works_until_it_expires(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org, expires_at=timezone.now() + timedelta(hours=1))
    client = KeyClient(plaintext, org)
    assert client.post_json("/v1/events", EVENT).status_code == 202

    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post_json("/v1/events", EVENT)
    assert response.status_code == 401
    assert response.json()["detail"] == "API key has expired."
