"""Migration operations that only apply on PostgreSQL (GIN indexes SQLite cannot express)."""

from typing import Any

from django.db import migrations


def postgres_only_sql(forward: str, backward: str) -> migrations.RunPython:
    def run(sql: str) -> Any:
        def apply(apps: Any, schema_editor: Any) -> None:
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql)

        return apply

    return migrations.RunPython(run(forward), run(backward))
