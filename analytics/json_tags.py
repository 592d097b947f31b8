"""The value of one tag key, as an SQL expression, for any key ingestion accepts.

Django's key transforms build a JSON path from the key, which goes wrong for keys that look
like numbers (`2024` becomes an array index on both engines) and, on SQLite, for keys with
non-ASCII characters or `"` (the path is JSON-escaped, which SQLite's path syntax does not
read). Here the key is always a bound text parameter compared with the object's keys.
"""

from typing import Any

from django.db.models import CharField, F, Func, TextField, Value
from django.db.models.functions import Cast


class TagValue(Func):
    """tags ->> KEY: the tag's value as text, NULL when the row has no such tag."""

    output_field = CharField()

    def __init__(self, key: str, tags_field: str = "tags") -> None:
        super().__init__(F(tags_field), Cast(Value(key), TextField()))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="(%(expressions)s)", arg_joiner=" ->> ", **extra
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        tags, key = self.get_source_expressions()
        tags_sql, tags_params = compiler.compile(tags)
        key_sql, key_params = compiler.compile(key)
        sql = f"(SELECT j.value FROM json_each({tags_sql}) AS j WHERE j.key = {key_sql})"
        return sql, (*tags_params, *key_params)
