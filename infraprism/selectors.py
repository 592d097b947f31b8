"""Tenancy reads."""

from infraprism import keys
from infraprism.models import ApiKey


def api_key_for_plaintext(plaintext: str) -> ApiKey | None:
    """The key matching the plaintext, looked up by display prefix, compared in constant time."""
    if not keys.is_well_formed(plaintext):
        return None
    candidate = (
        ApiKey.objects.select_related("organization")
        .filter(prefix=keys.display_prefix(plaintext))
        .first()
    )
    if candidate is None or not keys.hashes_match(candidate.key_hash, plaintext):
        return None
    return candidate
