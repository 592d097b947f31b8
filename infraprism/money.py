"""Money: stored as integer nano-dollars (1e-9 USD) everywhere, USD Decimals at the edges."""

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

NANOS_PER_USD = Decimal(1_000_000_000)


def nanos_to_usd(nanos: int | Decimal | None) -> Decimal:
    return Decimal(nanos or 0) / NANOS_PER_USD


def usd_to_nanos(usd: Decimal | int) -> int:
    """Nearest whole nano-dollar amount, halves to even (client-sent costs)."""
    return int((Decimal(usd) * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def usd_to_nanos_ceil(usd: Decimal) -> int:
    """Smallest whole nano-dollar amount >= usd (for `>=` filters)."""
    return int((Decimal(usd) * NANOS_PER_USD).to_integral_value(rounding=ROUND_CEILING))
