"""SQL functions the embedded SQLite database lacks, registered on every new connection.

`exact_sum(x)`: SUM without the 64-bit overflow ("integer overflow" would wedge a rollup and
fail reads): Python ints add exactly, and the result comes back in NanoDollarSumField's
storage form (INTEGER while it fits, padded TEXT beyond), so it compares and sorts
numerically in SQL too. It accepts the INTEGER and TEXT forms alike, so sums of sums work.
"""

from typing import Any

from sessions.fields import sqlite_nanos


class ExactSum:
    def __init__(self) -> None:
        self.total = 0
        self.seen = False

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += int(value)
            self.seen = True

    def finalize(self) -> int | str | None:
        # Like SUM: NULL over no (non-NULL) rows.
        return sqlite_nanos(self.total) if self.seen else None


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: add the functions to SQLite connections."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("exact_sum", 1, ExactSum)
