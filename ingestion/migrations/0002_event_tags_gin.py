from django.db import migrations

from infraprism.migration_ops import postgres_only_sql


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0001_initial")]

    # btree_gin lets a GIN index lead with organization_id like every other index.
    operations = [
        postgres_only_sql("CREATE EXTENSION IF NOT EXISTS btree_gin", "SELECT 1"),
        postgres_only_sql(
            "CREATE INDEX event_org_tags_gin ON ingestion_event "
            "USING gin (organization_id, tags jsonb_path_ops)",
            "DROP INDEX IF EXISTS event_org_tags_gin",
        ),
    ]
