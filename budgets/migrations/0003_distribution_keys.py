"""Distribution-ready keys (issue #16) for the budgets tables, like sessions 0008: primary keys
become (organization_id, id) in the database, and the foreign keys between these tables carry
organization_id too, so a distributed engine (Citus, colocated by organization_id) can enforce
them on one shard. Django keeps `id` as the model's primary key and its foreign-key columns;
only the database constraints change. PostgreSQL only; SQLite keeps `id`.
"""

from django.db import migrations

from infraprism.migration_ops import postgres_only_sql

TABLES = ("budgets_budget", "budgets_alert", "budgets_webhookendpoint", "budgets_webhookdelivery")
# (table, column, referenced table): the foreign keys between budgets tables.
LINKS = (
    ("budgets_alert", "budget_id", "budgets_budget"),
    ("budgets_webhookdelivery", "endpoint_id", "budgets_webhookendpoint"),
    ("budgets_webhookdelivery", "alert_id", "budgets_alert"),
)


def _drop_foreign_keys() -> str:
    # Names are looked up: Django derives them from a hash, the composite ones are ours.
    return """
DO $$
DECLARE fk record;
BEGIN
    FOR fk IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
              WHERE contype = 'f' AND confrelid::regclass::text LIKE 'budgets\\_%%'
    LOOP
        EXECUTE format('ALTER TABLE %%s DROP CONSTRAINT %%I', fk.tbl, fk.conname);
    END LOOP;
END $$;
"""


def _rekey(columns: str) -> str:
    return "\n".join(
        f"""
DO $$
DECLARE pk text;
BEGIN
    SELECT conname INTO pk FROM pg_constraint
    WHERE conrelid = '{table}'::regclass AND contype = 'p';
    EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %%I, ADD CONSTRAINT %%I PRIMARY KEY ({columns})',
                   pk, '{table}_pkey');
END $$;"""
        for table in TABLES
    )


def _add_foreign_keys(composite: bool) -> str:
    # Deferred like Django's own: the ORM's cascades order their deletes freely in a transaction.
    statements = []
    for table, column, target in LINKS:
        local = f"organization_id, {column}" if composite else column
        remote = "organization_id, id" if composite else "id"
        statements.append(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk FOREIGN KEY ({local}) "
            f"REFERENCES {target} ({remote}) DEFERRABLE INITIALLY DEFERRED;"
        )
    return "\n".join(statements)


FORWARD = _drop_foreign_keys() + _rekey("organization_id, id") + _add_foreign_keys(True)
BACKWARD = _drop_foreign_keys() + _rekey("id") + _add_foreign_keys(False)


class Migration(migrations.Migration):
    dependencies = [("budgets", "0002_webhook_url_charfield")]

    operations = [postgres_only_sql(FORWARD, BACKWARD)]
