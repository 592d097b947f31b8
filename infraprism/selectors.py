"""Tenancy reads."""

import time

from django.conf import settings

from infraprism import keys
from infraprism.models import ApiKey

# Display prefix -> (expiry on the monotonic clock, key row). Every request authenticates, and
# the ORM lookup was the largest single cost of a small request (docs/performance.md); a few
# seconds of caching removes it. Revocation in this process evicts at once; other processes
# see it within API_KEY_CACHE_SECONDS.
_cache: dict[str, tuple[float, ApiKey]] = {}


def _lookup(prefix: str) -> ApiKey | None:
    ttl = settings.API_KEY_CACHE_SECONDS
    now = time.monotonic()
    if ttl > 0 and (hit := _cache.get(prefix)) is not None and hit[0] > now:
        return hit[1]
    candidate = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
    if candidate is not None and ttl > 0:
        _cache[prefix] = (now + ttl, candidate)
    return candidate


def api_key_cache_evict(prefix: str) -> None:
    _cache.pop(prefix, None)


def api_key_for_plaintext(plaintext: str) -> ApiKey | None:
    """The key matching the plaintext, looked up by display prefix, compared in constant time."""
    if not keys.is_well_formed(plaintext):
        return None
    candidate = _lookup(keys.display_prefix(plaintext))
    if candidate is None or not keys.hashes_match(candidate.key_hash, plaintext):
        return None
    return candidate
