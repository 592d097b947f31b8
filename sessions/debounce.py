"""The per-organization Redis marker that lets one rollup task through per burst of ingests.

Shared by scheduling (sets it) and the task (clears it as it starts), so neither imports the
other for it. Redis trouble is recorded and never raised: the beat sweep covers a lost task.
"""

from django.conf import settings
from redis.exceptions import RedisError

from infraprism.redis_client import get_redis, mark_redis_down


def _marker(organization_id: int) -> str:
    return f"rollup:scheduled:{organization_id}"


def rollup_marker_set(*, organization_id: int) -> bool:
    """True when no rollup was queued for the organization (the caller should queue one)."""
    client = get_redis()
    if client is None:
        return False  # Redis recently down: leave it to the sweep
    try:
        return bool(
            client.set(_marker(organization_id), 1, nx=True, ex=settings.ROLLUP_DEBOUNCE_SECONDS)
        )
    except RedisError as exc:
        mark_redis_down(exc)
        return False


def rollup_marker_clear(*, organization_id: int) -> None:
    client = get_redis()
    if client is None:
        return
    try:
        client.delete(_marker(organization_id))
    except RedisError as exc:
        mark_redis_down(exc)
