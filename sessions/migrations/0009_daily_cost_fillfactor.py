"""The daily cost table's rows are updated by nearly every rollup chunk (one row per
organization, day, entity, model and provider), and none of the updated columns is indexed:
with half of each page free the updates stay on their page (HOT), so neither the heap nor the
two indexes grow per update. Measured on bench/rollup.py's data (docs/performance.md): 100% HOT
updates instead of 1.5%, indexes 1,854 pages instead of 3,207, the drain 1.2x faster.
PostgreSQL only (SQLite has no fillfactor)."""

from django.db import migrations

from infraprism.migration_ops import postgres_only_sql


class Migration(migrations.Migration):
    dependencies = [("llm_sessions", "0008_distribution_keys")]

    operations = [
        postgres_only_sql(
            "ALTER TABLE costs_daily SET (fillfactor = 50)",
            "ALTER TABLE costs_daily RESET (fillfactor)",
        ),
    ]
