"""HTTP for the sender: one POST of one batch to `/v1/events/batch`, gzip-compressed.

httpx2 comes with openai, so the SDK adds no HTTP dependency. The connection pool belongs to
the sender's thread; after a fork the child drops it (sockets are not shared across processes).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2

from ._version import __version__

BATCH_PATH = "/v1/events/batch"


class TransportError(Exception):
    """The request did not get an HTTP answer (refused, reset, timed out)."""


@dataclass(frozen=True, slots=True)
class BatchResponse:
    status: int
    body: Any
    retry_after: float | None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BatchTransport:
    def __init__(self, *, base_url: str, api_key: str, timeout: float) -> None:
        self._url = base_url + BATCH_PATH
        self._api_key = api_key
        self._timeout = timeout
        self._client: httpx2.Client | None = None

    def post(self, payload: bytes, *, compress: bool) -> BatchResponse:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "User-Agent": f"infraprism-python/{__version__}",
        }
        if compress:
            # Level 1: batches of similar events shrink ~9x already; level 6 costs more for ~10%.
            payload = gzip.compress(payload, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        if self._client is None:
            self._client = httpx2.Client(timeout=self._timeout)
        try:
            response = self._client.post(self._url, content=payload, headers=headers)
        except httpx2.HTTPError as exc:
            # The exception text may carry the URL, never the key: the key is only in a header.
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        return BatchResponse(
            status=response.status_code,
            body=body,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def forget_connections(self) -> None:
        """After fork: the inherited pool's sockets belong to the parent; never touch them."""
        self._client = None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def describe_errors(errors: Any) -> str:
    """A 207 item's field errors as one log-friendly line."""
    try:
        return json.dumps(errors, sort_keys=True)
    except (TypeError, ValueError):
        return repr(errors)
