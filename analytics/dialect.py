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


class PercentileCont(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, percentile: float) -> None:
        super().__init__(expression, percentile=percentile)


def percentiles(queryset: QuerySet[Any], field: str, fractions: list[float]) -> list[Decimal]:
    """Linear-interpolated percentiles (percentile_cont semantics) of `field`."""
    if is_postgres():
        names = {f"p{i}": PercentileCont(field, fraction) for i, fraction in enumerate(fractions)}
        row = queryset.order_by().aggregate(**names)
        return [Decimal(str(row[f"p{i}"] or 0)) for i in range(len(fractions))]
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
