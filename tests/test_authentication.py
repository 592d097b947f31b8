"""Bearer API key authentication through HTTP: 401s, 403s and what reaches the logs."""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from infraprism.models import ApiKey, Organization
from infraprism.services import api_key_revoke
from ingestion.models import Event
from tests.conftest import KeyClient
from tests.factories import event

MakeKey = Callable[..., tuple[ApiKey, str]]
EVENT = event(None, cost=0.01)
URL = "/v1/events"


def _post(authorization: str | None) -> Any:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.post(URL, EVENT, format="json")


def _assert_401(response: Any, error: str, detail: str) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": error, "detail": detail}


def test_valid_key_is_accepted(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org)
    response = _post(f"Bearer {plaintext}")
    assert response.status_code == 202, response.content
    assert "WWW-Authenticate" not in response


def test_scheme_is_case_insensitive(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org)
    assert _post(f"bearer {plaintext}").status_code == 202


@pytest.mark.django_db
def test_missing_header() -> None:
    _assert_401(
        _post(None), "not_authenticated", "Missing Authorization header: use 'Bearer ip-...'."
    )


@pytest.mark.django_db
def test_empty_header() -> None:
    _assert_401(
        _post(""), "not_authenticated", "Missing Authorization header: use 'Bearer ip-...'."
    )


@pytest.mark.parametrize("header", ["Token x", "Bearer", "Bearer a b", "Basic dXNlcjpwYXNz"])
def test_malformed_header(db: None, header: str) -> None:
    _assert_401(
        _post(header),
        "authentication_failed",
        "Malformed Authorization header: expected 'Bearer ip-...'.",
    )


def test_malformed_header_with_a_real_key(org: Organization, make_key: MakeKey) -> None:
    # A valid key behind the wrong scheme, or with trailing junk, is still refused.
    _, plaintext = make_key(org)
    for header in [f"Token {plaintext}", f"Bearer {plaintext} extra", plaintext]:
        _assert_401(
            _post(header),
            "authentication_failed",
            "Malformed Authorization header: expected 'Bearer ip-...'.",
        )


@pytest.mark.parametrize(
    "key",
    [
        "ip-" + "A" * 43,  # well-formed, unknown
        "not-a-key",
        "ip-short",
        "ip-" + "A" * 40 + "!",
    ],
)
def test_unknown_key(db: None, key: str) -> None:
    _assert_401(_post(f"Bearer {key}"), "authentication_failed", "Invalid API key.")


def test_well_formed_key_with_right_prefix_but_wrong_secret(
    org: Organization, make_key: MakeKey
) -> None:
    _, plaintext = make_key(org)
    wrong = plaintext[:11] + "Z" * (len(plaintext) - 11)
    assert wrong != plaintext
    _assert_401(_post(f"Bearer {wrong}"), "authentication_failed", "Invalid API key.")


def test_revoked_key(org: Organization, make_key: MakeKey) -> None:
    api_key, plaintext = make_key(org)
    api_key_revoke(api_key=api_key)
    _assert_401(_post(f"Bearer {plaintext}"), "authentication_failed", "API key has been revoked.")


def test_expired_key(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org, expires_at=timezone.now() - timedelta(minutes=1))
    _assert_401(_post(f"Bearer {plaintext}"), "authentication_failed", "API key has expired.")


def test_disabled_organization(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org)
    assert _post(f"Bearer {plaintext}").status_code == 202
    Organization.objects.filter(pk=org.pk).update(is_active=False)
    _assert_401(_post(f"Bearer {plaintext}"), "authentication_failed", "Organization is disabled.")


def test_key_without_ingest_scope_is_forbidden(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org, scopes=("read",))
    response = _post(f"Bearer {plaintext}")
    assert response.status_code == 403, response.content
    assert "WWW-Authenticate" not in response
    assert response.json() == {
        "error": "permission_denied",
        "detail": "This API key lacks the 'ingest' scope.",
    }


def test_forbidden_request_stores_nothing(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org, scopes=("read",))
    assert _post(f"Bearer {plaintext}").status_code == 403
    assert not Event.objects.filter(organization=org).exists()


def test_ingest_only_key_can_ingest(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org, scopes=("ingest",))
    assert _post(f"Bearer {plaintext}").status_code == 202


def test_key_with_no_scopes_is_forbidden(org: Organization, make_key: MakeKey) -> None:
    _, plaintext = make_key(org, scopes=())
    assert _post(f"Bearer {plaintext}").status_code == 403


# --- Logs -----------------------------------------------------------------------------------


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(getattr(record, "request", "")))
    return "\n".join(parts)


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "infraprism.request"]


def test_valid_key_is_never_logged_but_its_prefix_is(
    org: Organization, make_key: MakeKey, caplog: pytest.LogCaptureFixture
) -> None:
    api_key, plaintext = make_key(org)
    caplog.set_level(logging.DEBUG)

    response = KeyClient(plaintext, org).post_json(URL, EVENT)

    assert response.status_code == 202
    lines = _request_lines(caplog)
    assert len(lines) == 1
    assert f"key={api_key.prefix}" in lines[0]
    assert "org=acme" in lines[0]
    assert "status=202" in lines[0]
    assert "path=/v1/events" in lines[0]
    text = _all_log_text(caplog)
    assert plaintext not in text
    assert plaintext[11:] not in text  # not even the secret part on its own
    assert api_key.key_hash not in text


def test_wrong_key_is_never_logged(
    org: Organization, make_key: MakeKey, caplog: pytest.LogCaptureFixture
) -> None:
    _, plaintext = make_key(org)
    wrong = plaintext[:11] + "Q" * (len(plaintext) - 11)
    unknown = "ip-" + "W" * 43
    caplog.set_level(logging.DEBUG)

    assert _post(f"Bearer {wrong}").status_code == 401
    assert _post(f"Bearer {unknown}").status_code == 401
    assert _post(f"Token {plaintext}").status_code == 401

    lines = _request_lines(caplog)
    assert len(lines) == 3
    assert all("status=401" in line and "key=-" in line for line in lines)
    text = _all_log_text(caplog)
    for secret in [wrong, unknown, plaintext, wrong[11:], unknown[11:], plaintext[11:]]:
        assert secret not in text
