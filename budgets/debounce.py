"""The per-organization Redis marker that lets one evaluation task through per burst of rollup
chunks (the pattern of sessions/debounce.py). Redis trouble is recorded, never raised: the
beat's evaluate_all covers a lost task."""

from django.conf import settings
from redis.exceptions import RedisError

from infraprism.redis_client import get_redis, mark_redis_down


def _marker(organization_id: int) -> str:
    return f"budgets:evaluate:{organization_id}"


def evaluation_marker_set(*, organization_id: int) -> bool:
    """True when no evaluation was queued for the organization (the caller queues one)."""
    client = get_redis()
    if client is None:
        return False
    try:
        return bool(
            client.set(
                _marker(organization_id), 1, nx=True, ex=settings.BUDGET_EVALUATE_DEBOUNCE_SECONDS
            )
        )
    except RedisError as exc:
        mark_redis_down(exc)
        return False


def evaluation_marker_clear(*, organization_id: int) -> None:
    client = get_redis()
    if client is None:
        return
    try:
        client.delete(_marker(organization_id))
    except RedisError as exc:
        mark_redis_down(exc)
