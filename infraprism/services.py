"""Tenancy writes: organizations and API keys."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from infraprism import keys
from infraprism.models import ApiKey, Organization
from infraprism.selectors import api_key_cache_evict


class ScopeError(ValueError):
    pass


def parse_scopes(raw: str) -> list[str]:
    scopes = sorted({s.strip() for s in raw.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in ApiKey.SCOPES]
    if unknown or not scopes:
        raise ScopeError(
            f"scopes must be a comma-separated subset of {', '.join(ApiKey.SCOPES)}; got {raw!r}"
        )
    return scopes


@transaction.atomic
def organization_create(*, slug: str, name: str) -> Organization:
    return Organization.objects.create(slug=slug, name=name)


def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext, which is never retrievable again."""
    for _ in range(5):
        plaintext = keys.generate_key()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    organization=organization,
                    name=name,
                    scopes=scopes,
                    prefix=keys.display_prefix(plaintext),
                    key_hash=keys.hash_key(plaintext),
                    expires_at=expires_at,
                )
            return api_key, plaintext
        except IntegrityError:  # display prefix collision: draw again
            continue
    raise RuntimeError("could not generate a unique API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    api_key_cache_evict(api_key.prefix)
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, writing at most once per resolution window (one conditional UPDATE)."""
    now = timezone.now()
    window = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is not None and now - api_key.last_used_at < window:
        return
    ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gte=now - window).update(
        last_used_at=now
    )
    api_key.last_used_at = now
