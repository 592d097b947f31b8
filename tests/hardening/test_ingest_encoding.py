"""Issue 10 item 12: Content-Encoding on both ingestion endpoints, the decompressed-size limit,
zip bombs, and the UTF-8 BOM."""

import gzip
import json
import tracemalloc
import zlib
from typing import Any

import pytest

from ingestion.models import Event
from tests.conftest import KeyClient
from tests.factories import event
from tests.ingest_helpers import BATCH, EVENTS, assert_field_error, json_error_body

pytestmark = pytest.mark.django_db

ENDPOINTS = [EVENTS, BATCH]


def _body(path: str, event_id: str) -> bytes:
    item = event(event_id, cost=0.25)
    payload: Any = item if path == EVENTS else {"events": [item]}
    return json.dumps(payload).encode()


def _post(client: KeyClient, path: str, raw: bytes, encoding: str | None) -> Any:
    extra: dict[str, Any] = {"HTTP_CONTENT_ENCODING": encoding} if encoding is not None else {}
    return client.post(path, raw, content_type="application/json", **extra)


def _zeros_gzip(size: int) -> bytes:
    """A gzip member that inflates to `size` bytes of spaces (valid JSON padding)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    piece = b" " * (1024 * 1024)
    parts = [packer.compress(piece) for _ in range(size // len(piece))]
    parts.append(packer.compress(b" " * (size % len(piece))))
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip", "gzip, identity", " gzip "])
def test_gzip_body_is_accepted_and_stored(client: KeyClient, path: str, encoding: str) -> None:
    response = _post(client, path, gzip.compress(_body(path, "gz-1")), encoding)
    assert response.status_code == 202, response.content
    event = Event.objects.get(organization=client.organization, event_id="gz-1")
    assert event.model == "gpt-4o"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("encoding", ["identity", "", "IDENTITY"])
def test_identity_is_a_plain_body(client: KeyClient, path: str, encoding: str) -> None:
    response = _post(client, path, _body(path, "id-1"), encoding)
    assert response.status_code == 202, response.content


@pytest.mark.parametrize("path", ENDPOINTS)
def test_several_gzip_members_are_one_body(client: KeyClient, path: str) -> None:
    raw = _body(path, "members-1")
    middle = len(raw) // 2
    members = gzip.compress(raw[:middle]) + gzip.compress(raw[middle:])
    response = _post(client, path, members, "gzip")
    assert response.status_code == 202, response.content


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("encoding", ["br", "deflate", "compress", "zstd", "gzip, gzip", "foo"])
def test_other_encodings_are_415_naming_the_header(
    client: KeyClient, path: str, encoding: str
) -> None:
    response = _post(client, path, gzip.compress(_body(path, "enc-1")), encoding)
    body = assert_field_error(response, "Content-Encoding", status=415)
    assert body["error"] == "unsupported_encoding"
    assert not Event.objects.filter(event_id="enc-1").exists()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_plain_body_labelled_gzip_is_400(client: KeyClient, path: str) -> None:
    response = _post(client, path, _body(path, "plain-1"), "gzip")
    body = assert_field_error(response, "Content-Encoding")
    assert "gzip" in body["detail"]
    assert not Event.objects.filter(event_id="plain-1").exists()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_truncated_gzip_is_400(client: KeyClient, path: str) -> None:
    packed = gzip.compress(_body(path, "cut-1"))
    response = _post(client, path, packed[: len(packed) - 6], "gzip")
    assert_field_error(response, "Content-Encoding")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_gzip_of_bad_json_names_the_body(client: KeyClient, path: str) -> None:
    response = _post(client, path, gzip.compress(b'{"model": '), "gzip")
    assert_field_error(response, "body")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_the_limit_applies_to_the_decompressed_size(
    client: KeyClient, path: str, settings: Any
) -> None:
    settings.MAX_BODY_BYTES = 4096
    raw = _body(path, "limit-1")
    at_limit = raw[:-1] + b" " * (4096 - len(raw)) + raw[-1:]
    assert len(at_limit) == 4096
    response = _post(client, path, gzip.compress(at_limit), "gzip")
    assert response.status_code == 202, response.content

    over = raw[:-1] + b" " * (4097 - len(raw)) + raw[-1:]
    packed = gzip.compress(over)
    assert len(packed) < 4096  # only the inflated size is over
    response = _post(client, path, packed, "gzip")
    body = json_error_body(response, 413)
    assert body["error"] == "payload_too_large"
    assert "decompressed" in body["detail"]


def test_a_zip_bomb_is_413_without_being_inflated_in_full(client: KeyClient) -> None:
    bomb = _zeros_gzip(512 * 1024 * 1024)  # 512 MB of spaces in about half a megabyte
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        response = _post(client, BATCH, bomb, "gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = json_error_body(response, 413)
    assert body["error"] == "payload_too_large"
    # The limit is 5 MB: a full inflation would have needed 512 MB.
    assert peak < 64 * 1024 * 1024, peak


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_utf8_bom_is_accepted(client: KeyClient, path: str, encoding: str | None) -> None:
    raw = b"\xef\xbb\xbf" + _body(path, "bom-1")
    response = _post(client, path, gzip.compress(raw) if encoding else raw, encoding)
    assert response.status_code == 202, response.content
    assert Event.objects.filter(event_id="bom-1").exists()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_bom_anywhere_but_first_is_still_bad_json(client: KeyClient, path: str) -> None:
    response = _post(client, path, b" \xef\xbb\xbf" + _body(path, "bom-2"), None)
    assert_field_error(response, "body")
    response = _post(client, path, b"\xef\xbb\xbf\xef\xbb\xbf" + _body(path, "bom-2"), None)
    assert_field_error(response, "body")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_gzip_that_inflates_to_nothing_is_an_empty_body(client: KeyClient, path: str) -> None:
    response = _post(client, path, gzip.compress(b""), "gzip")
    body = assert_field_error(response, "body")
    assert "empty" in body["detail"]
