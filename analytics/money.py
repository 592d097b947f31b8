"""Money at the API edge: stored as integer nano-dollars, shown as USD JSON numbers."""

from decimal import ROUND_CEILING, Decimal

NANOS_PER_USD = Decimal(1_000_000_000)


def nanos_to_usd(nanos: int | Decimal | None) -> Decimal:
    return Decimal(nanos or 0) / NANOS_PER_USD


def usd_to_nanos_ceil(usd: Decimal) -> int:
    """Smallest whole nano-dollar amount >= usd (for `>=` filters)."""
    return int((Decimal(usd) * NANOS_PER_USD).to_integral_value(rounding=ROUND_CEILING))
