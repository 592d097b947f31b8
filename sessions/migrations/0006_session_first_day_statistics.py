"""Extended statistics on the UTC day a session started, so the planner knows session-metrics'
per-day scan makes a handful of groups (not one per session): a parallel hash aggregate
instead of a sort of every session that spilled to disk (bench/query.py's data: 100k sessions,
30 days; docs/performance.md)."""

from django.db import migrations

from infraprism.migration_ops import postgres_only_sql


class Migration(migrations.Migration):
    dependencies = [("llm_sessions", "0005_session_metrics_covering_index")]

    operations = [
        postgres_only_sql(
            "CREATE STATISTICS IF NOT EXISTS session_first_day_utc "
            "ON ((first_seen AT TIME ZONE 'UTC')::date) FROM llm_sessions_session",
            "DROP STATISTICS IF EXISTS session_first_day_utc",
        ),
    ]
