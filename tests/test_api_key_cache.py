"""The per-process API key cache: reused within its lifetime, evicted by revocation."""

import io
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from infraprism.models import ApiKey, Organization
from infraprism.selectors import api_key_for_plaintext
from tests.factories import event


@pytest.fixture(autouse=True)
def _cache_on(settings: Any) -> None:
    settings.API_KEY_CACHE_SECONDS = 30


def test_second_lookup_within_the_lifetime_does_not_query(
    org: Organization, make_key: Any, django_assert_num_queries: Any
) -> None:
    _, plaintext = make_key(org)
    with django_assert_num_queries(1):
        assert api_key_for_plaintext(plaintext) is not None
    with django_assert_num_queries(0):
        assert api_key_for_plaintext(plaintext) is not None


def test_a_wrong_secret_with_a_cached_prefix_is_still_rejected(
    org: Organization, make_key: Any
) -> None:
    _, plaintext = make_key(org)
    assert api_key_for_plaintext(plaintext) is not None
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    assert api_key_for_plaintext(forged) is None


def test_revoking_evicts_at_once(org: Organization, make_key: Any) -> None:
    api_key, plaintext = make_key(org)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert http.post("/v1/events", event(None), format="json").status_code == 202
    call_command("revoke_api_key", api_key.prefix, stdout=io.StringIO())
    assert http.post("/v1/events", event(None), format="json").status_code == 401
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
