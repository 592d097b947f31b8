"""Issue 10 items 10 and 13: request and access logs cannot be forged, a disallowed Host
answers the JSON error shape, and `create_api_key --expires-in-days` must be a real lifetime."""

import logging
import socket
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from infraprism.models import ApiKey, Organization
from tests.conftest import KeyClient
from tests.ingest_helpers import assert_field_error, json_error_body
from tests.reliability import procs
from tests.waiting import wait_until

# --- item 10: log injection -----------------------------------------------------------------

FORGED_PATHS = [
    "/v1/analytics/sessions/x%0A2026-01-01%20INFO%20infraprism.request%20request%20method=GET",
    "/v1/%0D%0Aforged",
    "/v1/%1B%5B31mred",  # a terminal escape sequence
    "/v1/%E2%80%A8separator",  # U+2028, a line break to some log viewers
    "/v1/%C2%85next-line",  # U+0085 (NEL)
    "/nope%00nul",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", FORGED_PATHS)
def test_a_path_cannot_forge_a_request_log_line(
    client: KeyClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.INFO, logger="infraprism.request"):
        client.get(path)
    lines = [r.getMessage() for r in caplog.records if r.name == "infraprism.request"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.isprintable(), repr(line)
    assert "\u2028" not in line and "\x85" not in line
    assert line.startswith("request method=GET path=/") and "status=" in line


@pytest.mark.django_db
def test_escapes_are_unambiguous(client: KeyClient, caplog: pytest.LogCaptureFixture) -> None:
    """A literal backslash-n sent by the client is logged differently from a real newline."""
    with caplog.at_level(logging.INFO, logger="infraprism.request"):
        client.get("/v1/a%0Ab")
        client.get("/v1/a%5Cx0ab")  # the four characters \x0a
    first, second = [r.getMessage() for r in caplog.records if r.name == "infraprism.request"]
    assert "path=/v1/a\\x0ab " in first
    assert "path=/v1/a\\\\x0ab " in second


# --- item 13: a disallowed Host -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/v1/events", "/v1/analytics/sessions", "/healthz", "/v1/schema", "/nowhere"]
)
def test_a_disallowed_host_answers_the_json_error_shape(api_key: str, path: str) -> None:
    response = Client(HTTP_HOST="evil.example", HTTP_AUTHORIZATION=f"Bearer {api_key}").get(path)
    body = assert_field_error(response, "Host")
    assert body["error"] == "invalid_host"
    post = Client(HTTP_HOST="evil.example").post(path, b"{}", content_type="application/json")
    assert json_error_body(post, 400)["error"] == "invalid_host"


# --- item 13: create_api_key --expires-in-days ----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["0", "-1", "-365", "36501", "999999999"])
def test_create_api_key_refuses_a_lifetime_that_is_not_one(org: Organization, days: str) -> None:
    with pytest.raises(CommandError, match="--expires-in-days must be between 1 and 36500"):
        call_command(
            "create_api_key", org.slug, "--name", "k", "--expires-in-days", days, stdout=StringIO()
        )
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["1", "36500"])
def test_create_api_key_accepts_a_real_lifetime(org: Organization, days: str) -> None:
    call_command(
        "create_api_key", org.slug, "--name", "k", "--expires-in-days", days, stdout=StringIO()
    )
    key = ApiKey.objects.get()
    assert key.expires_at is not None
    assert (key.expires_at - key.created_at).days in (int(days) - 1, int(days))


# --- item 10: gunicorn's access log, through a live server ----------------------------------


def _raw_request(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        return sock.recv(100)


@pytest.mark.integration
def test_the_access_log_escapes_what_the_client_sent(tmp_path: Path) -> None:
    env = procs.service_env(
        f"sqlite:///{tmp_path / 'db.sqlite3'}", "", CACHE_FILE=str(tmp_path / "c.sqlite3")
    )
    server = procs.start_gunicorn(env, tmp_path / "logs")
    with procs.running(server):
        offset = server.proc.log_size()
        assert _raw_request(
            server.port, b"GET /v1/\x1b[31mred HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ).startswith(b"HTTP/1.1 404")
        assert _raw_request(
            server.port,
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"User-Agent: agent\x1b[2Jcleared\x85\r\nReferer: a\x0bb\r\n\r\n",
        ).startswith(b"HTTP/1.1 200")
        wait_until(
            lambda: "cleared" in server.proc.log_since(offset), timeout=10, what="access log"
        )
        log = server.proc.log_since(offset)
    for line in log.splitlines():
        assert line.isprintable(), repr(line)
    assert '"GET /v1/\\x1b[31mred HTTP/1.1" 404' in log
    assert '"a\\x0bb" "agent\\x1b[2Jcleared\\x85"' in log
    assert "path=/v1/\\x1b[31mred status=404" in log
