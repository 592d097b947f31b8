"""Server-side cost of a call from the price table (SPEC section 6).

Precedence for a model at a date: the organization's exact row, the organization's pattern,
the global exact row, the global pattern; within each tier the most specific (longest) pattern,
then the latest `effective_from` on or before the event's UTC date. A tier with no row in
effect at that date falls through to the next, so an override that starts later does not
leave earlier events unpriced.

Token convention (OpenAI's): `input_tokens` counts all prompt tokens, `cached_input_tokens`
of them were cache hits and are billed at the cached rate.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fnmatch import fnmatchcase

from django.conf import settings
from django.db.models import Q

from ingestion.models import ModelPrice

# Prices have at most 6 decimal places (ModelPrice.*_per_million). As integer micro-dollars
# per million tokens, tokens * price is in pico-dollars (1e-12 USD): integer math throughout,
# one rounding (half-even) to the nano-dollar at the end.
_MICROS = Decimal(1_000_000)
_PICOS_PER_NANO = 1000


def _micros(usd_per_million: Decimal) -> int:
    return int((usd_per_million * _MICROS).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class Price:
    id: int  # the ModelPrice row, recorded on the events it prices
    model: str
    is_pattern: bool
    is_override: bool
    effective_from: date
    input_micros: int
    output_micros: int
    cached_input_micros: int

    def cost_nanos(self, input_tokens: int, output_tokens: int, cached_input_tokens: int) -> int:
        cached = min(cached_input_tokens, input_tokens)
        picos = (
            (input_tokens - cached) * self.input_micros
            + cached * self.cached_input_micros
            + output_tokens * self.output_micros
        )
        nanos, remainder = divmod(picos, _PICOS_PER_NANO)
        twice = 2 * remainder
        if twice > _PICOS_PER_NANO or (twice == _PICOS_PER_NANO and nanos % 2):
            nanos += 1
        return nanos


class PriceBook:
    """The prices one organization sees, loaded once per request."""

    def __init__(self, rows: Iterable[ModelPrice]) -> None:
        self._exact: dict[str, list[Price]] = {}
        self._patterns: list[Price] = []
        for row in rows:
            price = Price(
                id=row.pk,
                model=row.model,
                is_pattern=row.is_pattern,
                is_override=row.organization_id is not None,
                effective_from=row.effective_from,
                input_micros=_micros(row.input_per_million),
                output_micros=_micros(row.output_per_million),
                cached_input_micros=_micros(
                    row.cached_input_per_million
                    if row.cached_input_per_million is not None
                    else row.input_per_million
                ),
            )
            if price.is_pattern:
                self._patterns.append(price)
            else:
                self._exact.setdefault(price.model, []).append(price)
        self._cache: dict[tuple[str, date], Price | None] = {}

    @classmethod
    def for_organization(cls, organization_id: int) -> "PriceBook":
        """The organization's book, reused for PRICE_CACHE_SECONDS (loading the table was a
        fifth of a single-event request's CPU). Price edits through the admin clear it here;
        other processes see them within that time."""
        ttl = settings.PRICE_CACHE_SECONDS
        now = time.monotonic()
        if ttl > 0 and (hit := _books.get(organization_id)) is not None and hit[0] > now:
            return hit[1]
        book = cls.current(organization_id)
        if ttl > 0:
            _books[organization_id] = (now + ttl, book)
        return book

    @classmethod
    def current(cls, organization_id: int) -> "PriceBook":
        """The organization's book read from the table now, bypassing the cache (re-pricing
        must see a price edited a moment ago in another process)."""
        return cls(
            ModelPrice.objects.filter(
                Q(organization__isnull=True) | Q(organization_id=organization_id)
            )
        )

    def lookup(self, model: str, on: date) -> Price | None:
        key = (model, on)
        if key not in self._cache:
            self._cache[key] = self._find(model, on)
        return self._cache[key]

    def _find(self, model: str, on: date) -> Price | None:
        exact = [p for p in self._exact.get(model, ()) if p.effective_from <= on]
        patterns = [
            p for p in self._patterns if p.effective_from <= on and fnmatchcase(model, p.model)
        ]
        for override in (True, False):
            for candidates in (exact, patterns):
                tier = [p for p in candidates if p.is_override is override]
                if tier:
                    return max(tier, key=lambda p: (len(p.model), p.effective_from))
        return None


_books: dict[int, tuple[float, PriceBook]] = {}


def price_cache_clear() -> None:
    _books.clear()
