"""A column for nano-dollar sums of any size, exact on PostgreSQL and on SQLite.

One call's cost fits in 64 bits, but a session's total need not (9,300 calls of USD 1,000,000
pass 2**63 nano-dollars). PostgreSQL stores the sum as NUMERIC(40, 0). SQLite has no bignum,
so the column has no type affinity and holds an INTEGER while the sum fits in 64 bits and
40-digit zero-padded TEXT beyond: SQLite orders every INTEGER before any TEXT, and padded
digits order like the numbers, so comparisons, ORDER BY, min() and max() stay numeric and
the (organization, total) index keeps serving the sorts. docs/decisions.md has the reasons.
"""

from typing import Any

from django.db import models

DIGITS = 40
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def sqlite_nanos(value: int) -> int | str:
    """The SQLite storage form of a whole nano-dollar amount (see the module docstring)."""
    if INT64_MIN <= value <= INT64_MAX:
        return value
    if value < 0:
        raise ValueError("a nano-dollar sum below -2**63 has no ordered SQLite form")
    text = str(value)
    if len(text) > DIGITS:
        raise ValueError(f"a nano-dollar sum has at most {DIGITS} digits")
    return text.zfill(DIGITS)


def nanos_from_db(value: Any) -> int | None:
    """int from any stored form: int, padded text, or NUMERIC's Decimal."""
    return None if value is None else int(value)


class NanoDollarSumField(models.Field):
    """Whole nano-dollars (int), any size up to 40 digits."""

    description = "Exact nano-dollar sum"

    def db_type(self, connection: Any) -> str:
        if connection.vendor == "postgresql":
            return f"numeric({DIGITS}, 0)"
        # No declared type: BLOB affinity, so SQLite keeps INTEGER and TEXT values as given.
        return "blob"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        return nanos_from_db(value)

    def to_python(self, value: Any) -> int | None:
        return nanos_from_db(value)

    def get_prep_value(self, value: Any) -> int | None:
        value = super().get_prep_value(value)
        return None if value is None else int(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or connection.vendor == "postgresql":
            return value
        return sqlite_nanos(value)
