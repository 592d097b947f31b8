from django.db import migrations

from infraprism.migration_ops import postgres_only_sql


class Migration(migrations.Migration):
    dependencies = [("llm_sessions", "0001_initial")]

    # btree_gin lets a GIN index lead with organization_id like every other index.
    operations = [
        postgres_only_sql("CREATE EXTENSION IF NOT EXISTS btree_gin", "SELECT 1"),
        postgres_only_sql(
            "CREATE INDEX session_org_tags_gin ON llm_sessions_session "
            "USING gin (organization_id, tags jsonb_path_ops)",
            "DROP INDEX IF EXISTS session_org_tags_gin",
        ),
        postgres_only_sql(
            "CREATE INDEX session_org_models_gin ON llm_sessions_session "
            "USING gin (organization_id, models jsonb_path_ops)",
            "DROP INDEX IF EXISTS session_org_models_gin",
        ),
    ]
