"""Per-principal rate limits (SPEC section 8), on DRF's SimpleRateThrottle.

SimpleRateThrottle gives the scope, the rate and the cache key; the counting is replaced. Its
own counting keeps a list of request times per key, read and written back whole: O(rate) per
request (6,000 floats for the default ingest rate) and racy between processes. Here each window
is one counter, bumped atomically in the cache (Redis, or without it the SQLite file cache
under var/ that every gunicorn worker shares; see infraprism/sqlite_cache.py).

Rates are read from settings on every request and validated at start-up by a system check
(infraprism/checks.py), so a malformed rate never reaches a request. A failing cache never
blocks a request: limits fail open and the failure is logged, so ingestion keeps accepting
events while Redis is down.
"""

import logging
import math
import re
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from infraprism.principal import Principal, principal_of

logger = logging.getLogger(__name__)

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
RATE_SETTINGS = ("INGEST_RATE_LIMIT", "READ_RATE_LIMIT")


def parse_rate(rate: str) -> tuple[int, int] | None:
    """'6000/min' -> (6000, 60); '100/10s' -> (100, 10); 'off' -> None. ValueError if bad."""
    if not isinstance(rate, str):
        raise ValueError(f"bad rate limit {rate!r}: use e.g. '6000/min', '100/s' or 'off'")
    if rate.strip().lower() in ("off", "none", ""):
        return None
    match = _RATE.match(rate.lower())
    if not match or match.group(3) not in _PERIODS:
        raise ValueError(f"bad rate limit {rate!r}: use e.g. '6000/min', '100/s' or 'off'")
    count, multiplier, unit = match.groups()
    if multiplier and int(multiplier) < 1:
        raise ValueError(f"bad rate limit {rate!r}: the period must be at least 1 {unit}")
    return int(count), int(multiplier or 1) * _PERIODS[unit]


def _count(cache: BaseCache, window_key: str, timeout: int) -> int:
    """Bump the window's counter; its value after this request."""
    if isinstance(cache, RedisCache):
        # One round trip (create the window if new, then count) instead of the three of
        # add() + incr() (Django's incr() checks EXISTS first). Django stores ints raw, so the
        # key is the one add()/incr() would use.
        key = cache.make_and_validate_key(window_key)
        client = cache._cache.get_client(key, write=True)  # type: ignore[attr-defined]
        pipe = client.pipeline(transaction=False)
        pipe.set(key, 0, ex=timeout, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])
    cache.add(window_key, 0, timeout=timeout)
    return int(cache.incr(window_key))


class _PrincipalRateThrottle(SimpleRateThrottle):
    """Fixed windows per principal (`rate_key`), counted with the cache's atomic incr."""

    setting_name = ""
    num_requests: int | None
    duration: int | None

    def __init__(self) -> None:
        super().__init__()  # reads and parses the rate below
        self.retry_after: float | None = None

    def get_rate(self) -> str:
        rate: str = getattr(settings, self.setting_name)
        return rate

    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        parsed = parse_rate(rate) if rate is not None else None
        return parsed if parsed is not None else (None, None)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        principal = principal_of(request.user)
        if principal is None:  # anonymous: refused by authentication, nothing to count
            return None
        return self._key(principal)

    def _key(self, principal: Principal) -> str:
        return f"rl:{self.scope}:{principal.rate_key}"

    def allow_request(self, request: Request, view: Any) -> bool:
        return self.allow_principal(principal_of(request.user))

    def allow_principal(self, principal: Principal | None) -> bool:
        """Count one request of `principal`; False once its window is full (the caller
        answers with throttled(); wait() then gives the Retry-After)."""
        if self.num_requests is None or self.duration is None:  # 'off'
            return True
        if principal is None:  # anonymous: refused by authentication, nothing to count
            return True
        now = self.timer()
        window = int(now // self.duration)
        try:
            count = _count(
                self.cache, f"{self._key(principal)}:{self.duration}:{window}", self.duration + 1
            )
        except Exception:  # noqa: BLE001 - any cache failure must fail open
            logger.warning("rate limit cache unavailable; allowing request", exc_info=False)
            return True
        if count > self.num_requests:
            self.retry_after = (window + 1) * self.duration - now
            return False
        return True

    def wait(self) -> float | None:
        return math.ceil(self.retry_after) if self.retry_after is not None else None


class IngestRateThrottle(_PrincipalRateThrottle):
    scope = "ingest"
    setting_name = "INGEST_RATE_LIMIT"


class ReadRateThrottle(_PrincipalRateThrottle):
    scope = "read"
    setting_name = "READ_RATE_LIMIT"
