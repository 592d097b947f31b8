"""Per-API-key rate limits: fixed windows counted atomically in the cache (Redis in production).

A failing cache never blocks a request: limits fail open and the failure is logged, so ingestion
keeps accepting events while Redis is down.
"""

import logging
import math
import re
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from infraprism.models import ApiKey

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


def parse_rate(rate: str) -> tuple[int, int] | None:
    """'6000/min' -> (6000, 60); '100/10s' -> (100, 10); 'off' -> None."""
    if rate.strip().lower() in ("off", "none", ""):
        return None
    match = _RATE.match(rate.lower())
    if not match or match.group(3) not in _PERIODS:
        raise ValueError(f"bad rate limit {rate!r}: use e.g. '6000/min', '100/s' or 'off'")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _PERIODS[unit]


class _KeyRateThrottle(BaseThrottle):
    setting_name = ""

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = parse_rate(getattr(settings, self.setting_name))
        api_key = request.auth
        if rate is None or not isinstance(api_key, ApiKey):
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        cache_key = f"rl:{self.setting_name}:{api_key.pk}:{window}"
        try:
            cache.add(cache_key, 0, timeout=period + 1)
            count = cache.incr(cache_key)
        except Exception:  # noqa: BLE001 - any cache failure must fail open
            logger.warning("rate limit cache unavailable; allowing request", exc_info=False)
            return True
        if count > limit:
            self.retry_after = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return math.ceil(self.retry_after) if self.retry_after is not None else None


class IngestRateThrottle(_KeyRateThrottle):
    setting_name = "INGEST_RATE_LIMIT"


class ReadRateThrottle(_KeyRateThrottle):
    setting_name = "READ_RATE_LIMIT"
