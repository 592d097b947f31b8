"""The bytes of an ingestion body: Content-Encoding undone, size capped, UTF-8 BOM dropped.

`gzip` is inflated in steps with a cap on the output, so a small body that expands to gigabytes
(a zip bomb) is refused after inflating at most the limit plus one byte. The limit
(MAX_BODY_BYTES) applies to the decompressed size. Any encoding other than gzip or identity is
a 415 naming the header.
"""

import zlib
from typing import IO, Any

from django.conf import settings

from infraprism.errors import ApiError

ENCODING_HEADER = "Content-Encoding"
_GZIP_NAMES = frozenset({"gzip", "x-gzip"})  # RFC 9110: x-gzip is the same coding
_IDENTITY = "identity"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip framing only (not raw deflate, not zlib)
UTF8_BOM = b"\xef\xbb\xbf"


def too_large(*, decompressed: bool = False) -> ApiError:
    limit_mb = settings.MAX_BODY_BYTES / (1024 * 1024)
    after = " once decompressed" if decompressed else ""
    return ApiError(
        status_code=413,
        code="payload_too_large",
        detail=f"Request body exceeds the {limit_mb:g} MB limit{after}.",
    )


def _encoding_error(reason: str, *, status_code: int) -> ApiError:
    code = "unsupported_encoding" if status_code == 415 else "invalid_request"
    return ApiError(
        status_code=status_code,
        code=code,
        detail=f"{ENCODING_HEADER}: {reason}",
        errors={ENCODING_HEADER: [reason]},
    )


def is_gzip(header: str) -> bool:
    """Whether the Content-Encoding header asks for gzip; raises a 415 for any other coding."""
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != _IDENTITY]
    if not codings:
        return False
    if len(codings) == 1 and codings[0] in _GZIP_NAMES:
        return True
    raise _encoding_error(
        f"'{header.strip()}' is not supported; send 'gzip' or no encoding (identity)",
        status_code=415,
    )


def gunzip_capped(data: bytes, *, limit: int) -> bytes:
    """Inflate every gzip member of `data`, producing at most `limit` bytes (else a 413)."""
    out: list[bytes] = []
    produced = 0
    remaining = data
    while True:
        inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
        try:
            chunk = inflater.decompress(remaining, limit + 1 - produced)
        except zlib.error:
            raise _encoding_error("the body is not valid gzip data", status_code=400) from None
        produced += len(chunk)
        if produced > limit:
            raise too_large(decompressed=True)
        out.append(chunk)
        if not inflater.eof:
            raise _encoding_error("the gzip data is truncated", status_code=400)
        remaining = inflater.unused_data
        if not remaining.strip(b"\x00"):  # some writers pad the last member with zeros
            return b"".join(out)


def read_body(stream: IO[Any], *, content_encoding: str) -> bytes:
    """The decoded body, at most MAX_BODY_BYTES long, without a leading UTF-8 BOM."""
    limit = settings.MAX_BODY_BYTES
    gzipped = is_gzip(content_encoding)  # before reading: a 415 needs no body
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large()
    body = gunzip_capped(raw, limit=limit) if gzipped else raw
    # RFC 8259 lets a parser ignore a BOM; some Windows tools always write one.
    return body[len(UTF8_BOM) :] if body.startswith(UTF8_BOM) else body
