"""A shared Redis client with short timeouts and a back-off after failures.

Redis is an accelerator here, never a dependency of accepting data: callers treat a None
client or a RedisError as "Redis unavailable" and carry on.
"""

import logging
import threading
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_client: redis.Redis | None = None
_down_until = 0.0


def get_redis() -> redis.Redis | None:
    global _client
    if not settings.REDIS_URL or time.monotonic() < _down_until:
        return None
    with _lock:
        if _client is None:
            _client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5
            )
    return _client


def mark_redis_down(exc: Exception) -> None:
    """Skip Redis for REDIS_BACKOFF_SECONDS so each request does not pay a connect timeout."""
    global _down_until
    _down_until = time.monotonic() + settings.REDIS_BACKOFF_SECONDS
    logger.warning("Redis unavailable (%s); retrying in %ss", exc, settings.REDIS_BACKOFF_SECONDS)


def redis_ping() -> bool:
    if not settings.REDIS_URL:
        return False
    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def marker_set(key: str, ttl_seconds: int) -> bool:
    """SET NX EX: True when the marker was not there (the caller goes ahead, e.g. queues a
    task). Redis down or failing: False, recorded, never raised."""
    client = get_redis()
    if client is None:
        return False
    try:
        return bool(client.set(key, 1, nx=True, ex=ttl_seconds))
    except redis.RedisError as exc:
        mark_redis_down(exc)
        return False


def marker_clear(key: str) -> None:
    client = get_redis()
    if client is None:
        return
    try:
        client.delete(key)
    except redis.RedisError as exc:
        mark_redis_down(exc)
