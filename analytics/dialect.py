"""The few places where PostgreSQL and SQLite need different SQL for the same question.

PostgreSQL uses JSONB containment (served by the GIN indexes) and percentile_disc; SQLite
(the embedded default) uses json_each and ordered lookups. Money sums are exact on both:
PostgreSQL's sum of bigint is NUMERIC, SQLite gets `exact_sum` (sessions/sqlite_functions.py).
"""

from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Aggregate, BooleanField, Model, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from sessions.fields import NanoDollarSumField


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def tag_equals(model: type[Model], key: str, value: str) -> Q:
    """Rows whose `tags` object has key == value, for any key ingestion accepts."""
    if is_postgres():
        return Q(tags__contains={key: value})
    # Not json_extract: its path syntax cannot name keys holding `"` (and Django's paths read
    # all-digit keys as array indexes). The key is compared as a bound text parameter instead.
    table = model._meta.db_table
    sql = (
        f"EXISTS (SELECT 1 FROM json_each({table}.tags) j "
        "WHERE j.key = %s AND j.type = 'text' AND j.value = %s)"
    )
    return Q(RawSQL(sql, [key, value], BooleanField()))  # noqa: S611


class ExactSum(Sum):
    """SUM of whole nano-dollars that never overflows, as an int of any size.

    PostgreSQL sums bigint into NUMERIC; SQLite's own sum() fails past 2**63 ("integer
    overflow"), so there the registered exact_sum() aggregate is used. Results order and
    compare numerically in SQL on both engines (NanoDollarSumField's storage forms).
    """

    def __init__(self, expression: Any, **extra: Any) -> None:
        super().__init__(expression, output_field=NanoDollarSumField(), **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="exact_sum", **extra)


def exact_sum(field: str) -> ExactSum:
    """An aggregate for money sums: use instead of Sum() on cost_nanos / total_cost_nanos."""
    return ExactSum(field)


def list_contains(model: type[Model], column: str, value: str) -> Q:
    """Rows whose JSON list `column` holds value."""
    if is_postgres():
        return Q(**{f"{column}__contains": [value]})
    table = model._meta.db_table
    sql = f"EXISTS (SELECT 1 FROM json_each({table}.{column}) j WHERE j.value = %s)"
    return Q(RawSQL(sql, [value], BooleanField()))  # noqa: S611


class PercentilesDisc(Aggregate):
    """percentile_disc(ARRAY[...]) WITHIN GROUP (ORDER BY field): values of the column itself
    (exact NUMERIC or integers, never a float), several at once in one sort."""

    function = "percentile_disc"
    template = (
        "%(function)s(ARRAY[%(fractions)s]::float8[]) WITHIN GROUP (ORDER BY %(expressions)s)"
    )

    def __init__(self, expression: Any, fractions: list[float]) -> None:
        from django.contrib.postgres.fields import ArrayField
        from django.db.models import DecimalField

        super().__init__(
            expression,
            fractions=", ".join(repr(float(f)) for f in fractions),
            output_field=ArrayField(DecimalField()),
        )


def _neighbours(count: int, fraction: float) -> tuple[int, int, Decimal]:
    """0-based positions of the two values percentile_cont interpolates, and the weight."""
    position = Decimal(str(fraction)) * (count - 1)
    low = int(position)
    return low, min(low + 1, count - 1), position - low


def percentiles_of(
    queryset: QuerySet[Any], fields: list[str], fractions: list[float], *, count: int
) -> dict[str, list[Decimal]]:
    """`percentiles` of several columns of the same rows; on PostgreSQL in one statement (one
    scan, one percentile_disc sort per column) instead of one statement per column."""
    if count == 0 or not is_postgres():
        return {field: percentiles(queryset, field, fractions, count=count) for field in fields}
    picks = [_neighbours(count, fraction) for fraction in fractions]
    positions = sorted({p for low, high, _ in picks for p in (low, high)})
    wanted = [(p + 0.5) / count for p in positions]  # see percentiles
    found = queryset.order_by().aggregate(
        **{f"v{i}": PercentilesDisc(field, wanted) for i, field in enumerate(fields)}
    )
    answers = {}
    for i, field in enumerate(fields):
        at = {p: Decimal(v) for p, v in zip(positions, found[f"v{i}"], strict=True)}
        answers[field] = [at[low] + (at[high] - at[low]) * w for low, high, w in picks]
    return answers


def percentiles(
    queryset: QuerySet[Any], field: str, fractions: list[float], *, count: int
) -> list[Decimal]:
    """Linear-interpolated percentiles (percentile_cont semantics) of `field`, exact.

    percentile_cont interpolates in double precision, which is not exact for money above
    about USD 9M (2**53 nano-dollars). Instead the one or two neighbouring values of each
    percentile are read as stored and interpolated in Decimal: on PostgreSQL with one
    percentile_disc over all of them (one sort); on SQLite by ordered lookups. `count` is
    the queryset's row count (the caller has it from its totals).
    """
    if count == 0:
        return [Decimal(0)] * len(fractions)
    picks = [_neighbours(count, fraction) for fraction in fractions]
    positions = sorted({p for low, high, _ in picks for p in (low, high)})
    if is_postgres():
        # percentile_disc(f) is the value at 0-based position ceil(f * count) - 1: aim at the
        # middle of each position, (p + 0.5) / count, so float rounding cannot move it.
        wanted = [(p + 0.5) / count for p in positions]
        values = queryset.order_by().aggregate(v=PercentilesDisc(field, wanted))["v"]
        at = {p: Decimal(v) for p, v in zip(positions, values, strict=True)}
    else:
        ordered = queryset.order_by(field).values_list(field, flat=True)
        at = {}
        for p in positions:
            if p not in at:
                pair = list(ordered[p : p + 2])
                at[p] = Decimal(pair[0])
                if len(pair) > 1:
                    at[p + 1] = Decimal(pair[1])
    return [at[low] + (at[high] - at[low]) * weight for low, high, weight in picks]
