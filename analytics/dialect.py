"""The few places where PostgreSQL and SQLite need different SQL for the same question.

PostgreSQL uses JSONB containment (served by the GIN indexes) and percentile_cont; SQLite
(the embedded default) uses json_each / json_extract and the equivalent interpolation by
ordered lookups.
"""

from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Aggregate, BooleanField, FloatField, Model, Q, QuerySet
from django.db.models.expressions import RawSQL


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def tag_equals(model: type[Model], key: str, value: str) -> Q:
    """Rows whose `tags` object has key == value."""
    if is_postgres():
        return Q(tags__contains={key: value})
    path = '$."' + key.replace('"', '\\"') + '"'
    table = model._meta.db_table
    # Table name from model metadata; key and value are bound parameters.
    sql = f"json_extract({table}.tags, %s) = %s"
    return Q(RawSQL(sql, [path, value], BooleanField()))  # noqa: S611


def list_contains(model: type[Model], column: str, value: str) -> Q:
    """Rows whose JSON list `column` holds value."""
    if is_postgres():
        return Q(**{f"{column}__contains": [value]})
    table = model._meta.db_table
    sql = f"EXISTS (SELECT 1 FROM json_each({table}.{column}) j WHERE j.value = %s)"
    return Q(RawSQL(sql, [value], BooleanField()))  # noqa: S611


class PercentilesCont(Aggregate):
    """percentile_cont(ARRAY[...]) WITHIN GROUP (ORDER BY field): several percentiles, one sort."""

    function = "percentile_cont"
    template = (
        "%(function)s(ARRAY[%(fractions)s]::float8[]) WITHIN GROUP (ORDER BY %(expressions)s)"
    )

    def __init__(self, expression: Any, fractions: list[float]) -> None:
        from django.contrib.postgres.fields import ArrayField

        super().__init__(
            expression,
            fractions=", ".join(repr(float(f)) for f in fractions),
            output_field=ArrayField(FloatField()),
        )


def percentile_aggregates(field: str, fractions: list[float]) -> dict[str, Any]:
    """Aggregates to compute along with the caller's others (PostgreSQL); none on SQLite."""
    return {f"percentiles_{field}": PercentilesCont(field, fractions)} if is_postgres() else {}


def percentiles(
    queryset: QuerySet[Any], field: str, fractions: list[float], aggregated: dict[str, Any]
) -> list[Decimal]:
    """Linear-interpolated percentiles (percentile_cont semantics) of `field`.

    On PostgreSQL they come from `aggregated` (the caller's aggregate() with
    percentile_aggregates() in it); SQLite has no percentile function, so the one or two
    neighbouring values of each percentile are read in order and interpolated.
    """
    if is_postgres():
        values = aggregated[f"percentiles_{field}"] or [0.0] * len(fractions)
        return [Decimal(str(v if v is not None else 0)) for v in values]
    count = queryset.count()
    if count == 0:
        return [Decimal(0)] * len(fractions)
    ordered = queryset.order_by(field).values_list(field, flat=True)
    results = []
    for fraction in fractions:
        position = Decimal(str(fraction)) * (count - 1)
        low = int(position)
        pair = list(ordered[low : low + 2])
        lower = Decimal(pair[0])
        upper = Decimal(pair[1]) if len(pair) > 1 else lower
        results.append(lower + (upper - lower) * (position - low))
    return results
