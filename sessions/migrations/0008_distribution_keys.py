"""Distribution-ready keys (issue #16): the primary keys of sessions, the pending queue and the
daily cost table become (organization_id, id) in the database, so a distributed engine (Citus,
distributing by organization_id) can enforce them per shard. Every unique constraint already
leads with organization_id.

Django keeps `id` as the model's primary key (state unchanged): the ORM addresses rows by id,
which stays unique in practice (one identity sequence), and composite primary keys would change
every foreign-key-free model API for no gain here. PostgreSQL only; SQLite keeps `id`.
"""

from django.db import migrations

from infraprism.migration_ops import postgres_only_sql

TABLES = ("llm_sessions_session", "ingestion_pendingrollup", "costs_daily")


def _rekey(table: str, columns: str) -> str:
    # The constraint's name is looked up: it differs between databases migrated at different
    # times (the queue table was created under ingestion).
    return f"""
DO $$
DECLARE pk text;
BEGIN
    SELECT conname INTO pk FROM pg_constraint
    WHERE conrelid = '{table}'::regclass AND contype = 'p';
    EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %%I, ADD CONSTRAINT %%I PRIMARY KEY ({columns})',
                   pk, '{table}_pkey');
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("llm_sessions", "0007_daily_costs_and_queue_every_event")]

    operations = [
        postgres_only_sql(_rekey(table, "organization_id, id"), _rekey(table, "id"))
        for table in TABLES
    ]
