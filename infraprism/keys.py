"""API key material: generation, hashing, display prefix. No database access here."""

import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "ip-"
# 32 random bytes -> 43 URL-safe characters, well over the 32 the SPEC asks for.
_RANDOM_BYTES = 32
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8
KEY_PATTERN = re.compile(r"^ip-[A-Za-z0-9_-]{32,128}$")


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]


def is_well_formed(key: str) -> bool:
    return bool(KEY_PATTERN.match(key))


def hashes_match(stored_hash: str, key: str) -> bool:
    """Constant-time comparison of the stored hash with the presented key's hash."""
    return hmac.compare_digest(stored_hash.encode(), hash_key(key).encode())
