"""How the dashboard writes money: like the guide (`$0.0123`), with the exact value kept."""

from decimal import ROUND_HALF_UP, Decimal

DISPLAY_QUANTUM = Decimal("0.0001")


def usd_exact(value: Decimal | int | float | str) -> str:
    """Every stored digit, no exponent: `$0.000001234`."""
    text = format(Decimal(str(value)).normalize(), "f")
    return f"${text}"


def usd_display(value: Decimal | int | float | str) -> str:
    """Four decimals as the guide prints them; a non-zero amount too small to show is
    `<$0.0001` rather than a misleading `$0.0000`."""
    amount = Decimal(str(value))
    rounded = amount.quantize(DISPLAY_QUANTUM, rounding=ROUND_HALF_UP)
    if rounded == 0 and amount > 0:
        return "<$0.0001"
    return f"${rounded:,.4f}"
