"""The daily cost table, and a queue that holds every event (with its provider).

Backfill: the table gets every stored event that is not pending (pending events, which are
all session events until now, fold in at their rollup as usual), and pending rows get their
event's provider. Run it with ingestion stopped or on an idle queue: an event ingested by the
old code between these steps would be counted by neither (docs/decisions.md).
"""

from typing import Any

from django.db import migrations, models

import sessions.fields

_BIGINT_MAX = "9223372036854775807"

_PROVIDERS = """
UPDATE ingestion_pendingrollup SET provider = (
    SELECT e.provider FROM ingestion_event e
    WHERE e.id = ingestion_pendingrollup.event_pk
      AND e.organization_id = ingestion_pendingrollup.organization_id)
WHERE EXISTS (SELECT 1 FROM ingestion_event e
              WHERE e.id = ingestion_pendingrollup.event_pk AND e.provider <> '')
"""


def _backfill_sql(vendor: str) -> str:
    if vendor == "postgresql":
        day, cost, errors = (
            "(e.timestamp AT TIME ZONE 'UTC')::date",
            "sum(e.cost_nanos)",
            "count(*) FILTER (WHERE e.status = 'error')",
        )
        tokens = "LEAST(sum(e.{0}), " + _BIGINT_MAX + ")"
    else:
        day, cost, errors = (
            "date(e.timestamp)",
            "exact_sum(e.cost_nanos)",
            "sum(e.status = 'error')",
        )
        tokens = "sum(e.{0})"
    return f"""
INSERT INTO costs_daily (
    organization_id, day, entity_type, entity_id, model, provider, cost_nanos, call_count,
    input_tokens, output_tokens, cached_input_tokens, error_count)
SELECT e.organization_id, {day}, coalesce(e.entity_type, ''), coalesce(e.entity_id, ''),
       e.model, e.provider, {cost}, count(*), {tokens.format("input_tokens")},
       {tokens.format("output_tokens")}, {tokens.format("cached_input_tokens")}, {errors}
FROM ingestion_event e
WHERE NOT EXISTS (SELECT 1 FROM ingestion_pendingrollup p
                  WHERE p.event_pk = e.id AND p.organization_id = e.organization_id)
GROUP BY 1, 2, 3, 4, 5, 6
"""


def backfill(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(_PROVIDERS)
    schema_editor.execute(_backfill_sql(schema_editor.connection.vendor))


def unfill(apps: Any, schema_editor: Any) -> None:
    # Sessionless rows exist only for the daily table, which goes away.
    schema_editor.execute("DELETE FROM ingestion_pendingrollup WHERE session_id IS NULL")


class Migration(migrations.Migration):
    dependencies = [
        ("llm_sessions", "0006_session_first_day_statistics"),
    ]

    operations = [
        migrations.AddField(
            model_name="pendingrollup",
            name="provider",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="pendingrollup",
            name="session_id",
            field=models.CharField(max_length=256, null=True),
        ),
        migrations.CreateModel(
            name="DailyCost",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("organization_id", models.BigIntegerField()),
                ("day", models.DateField()),
                ("entity_type", models.CharField(default="", max_length=128)),
                ("entity_id", models.CharField(default="", max_length=128)),
                ("model", models.CharField(max_length=200)),
                ("provider", models.CharField(default="", max_length=64)),
                ("cost_nanos", sessions.fields.NanoDollarSumField(default=0)),
                ("call_count", models.BigIntegerField(default=0)),
                ("input_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("cached_input_tokens", models.BigIntegerField(default=0)),
                ("error_count", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "costs_daily",
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "organization_id",
                            "day",
                            "entity_type",
                            "entity_id",
                            "model",
                            "provider",
                        ),
                        name="daily_cost_key",
                    )
                ],
            },
        ),
        migrations.RunPython(backfill, unfill),
    ]
