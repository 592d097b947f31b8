"""Money: stored as integer nano-dollars (1e-9 USD) everywhere, USD Decimals at the edges."""

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal

NANOS_PER_USD = Decimal(1_000_000_000)


def nanos_to_usd(nanos: int | Decimal | None) -> Decimal:
    return Decimal(nanos or 0) / NANOS_PER_USD


ONE_NANO_USD = Decimal("1e-9")
# Wide enough for any amount quantize() may return; the USD value itself is never rounded by a
# context (Decimal(text) is exact, and quantize reads every digit of its operand).
_EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)


def usd_to_nanos(usd: Decimal | int) -> int:
    """Nearest whole nano-dollar amount, halves to even (client-sent costs).

    One rounding, from the exact decimal as sent: multiplying by 10^9 first would round to the
    context's 28 digits, so 0.00000000050000000000000000000000000001 would become exactly half a
    nano-dollar and then 0 instead of 1.
    """
    nanos = Decimal(usd).quantize(ONE_NANO_USD, context=_EXACT).scaleb(9, context=_EXACT)
    return int(nanos)


def usd_to_nanos_ceil(usd: Decimal) -> int:
    """Smallest whole nano-dollar amount >= usd (for `>=` filters)."""
    return int((Decimal(usd) * NANOS_PER_USD).to_integral_value(rounding=ROUND_CEILING))
