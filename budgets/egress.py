"""Where webhooks may go, and the one HTTP POST that takes them there.

Policy (docs/decisions.md, "Budgets and webhooks"): HTTPS anywhere public; plain HTTP only to
`localhost` and `127.0.0.1`; loopback only through those two names; private, link-local and
other non-global addresses refused unless DEBUG. It is checked when an endpoint is saved (for
addresses written in the URL) and again at every send on the addresses the name resolves to
right then, and the connection goes to the address that was checked (no second lookup for a
DNS rebinding to exploit). Redirects are never followed: a 3xx is a failed attempt.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1"})
MAX_RESPONSE_BYTES = 64 * 1024


class EgressRefused(Exception):
    """The URL or the address it resolves to is not one webhooks may be sent to."""


def _allowed_address(address: str, host: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.is_loopback:
        return host in LOOPBACK_HOSTS and settings.WEBHOOK_ALLOW_LOOPBACK
    if ip.is_global and not ip.is_multicast:
        return True
    # Private, link-local (cloud metadata at 169.254.169.254), reserved, unspecified...
    return bool(settings.DEBUG) and not ip.is_unspecified and not ip.is_multicast


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None (no DNS lookup: see resolve())."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "must be a valid URL"
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// URL (http:// only for localhost or 127.0.0.1)"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "must use https:// (http:// only for localhost or 127.0.0.1)"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@)"
    if parts.fragment:
        return "must not have a #fragment"
    if port == 0:
        return "must not use port 0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" and not settings.WEBHOOK_ALLOW_LOOPBACK:
            return "must not point at this server (loopback)"
        return None  # a name: its addresses are checked at every send
    if not _allowed_address(host, host):
        return "must not be a private, loopback or link-local address"
    return None


def resolve(host: str, port: int) -> str:
    """One address of `host` to connect to; refused when any address it has is disallowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise EgressRefused(f"cannot resolve {host}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    bad = [a for a in addresses if not _allowed_address(a, host)]
    if bad or not addresses:
        raise EgressRefused(f"{host} resolves to a disallowed address ({', '.join(bad)})")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        address = resolve(self.host, self.port)
        self.sock = socket.create_connection((address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        address = resolve(self.host, self.port)
        sock = socket.create_connection((address, self.port), self.timeout)
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, *, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST `body` as is; never follows a redirect; any failure is a result, not an exception."""
    started = time.monotonic()

    def done(code: int | None, error: str = "") -> PostResult:
        return PostResult(code, error[:300], int((time.monotonic() - started) * 1000))

    problem = url_problem(url)
    if problem:
        return done(None, f"url {problem}")
    parts = urlsplit(url)
    host, timeout = parts.hostname or "", settings.WEBHOOK_TIMEOUT_SECONDS
    conn_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    conn = conn_class(host, parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return done(response.status)
    except EgressRefused as exc:
        return done(None, f"refused: {exc}")
    except (OSError, http.client.HTTPException) as exc:
        return done(None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
