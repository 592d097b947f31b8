"""Pending rollup rows carry the columns the rollup folds (it no longer reads the events), and
are claimed in (organization, session) order."""

from typing import Any

from django.db import migrations, models

_BACKFILL = """
UPDATE ingestion_pendingrollup SET
    session_id = e.session_id, timestamp = e.timestamp, model = e.model,
    is_error = (e.status = 'error'), entity_type = e.entity_type, entity_id = e.entity_id,
    cost_nanos = e.cost_nanos, input_tokens = e.input_tokens, output_tokens = e.output_tokens,
    cached_input_tokens = e.cached_input_tokens,
    tags = CASE WHEN e.tags = '{}' THEN NULL ELSE e.tags END
FROM ingestion_event e WHERE e.id = ingestion_pendingrollup.event_pk
"""


def backfill(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(_BACKFILL)


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0003_list_prices")]

    operations = [
        migrations.RemoveIndex(model_name="pendingrollup", name="pending_org_id"),
        migrations.AddField(
            "pendingrollup", "session_id", models.CharField(max_length=256, null=True)
        ),
        migrations.AddField("pendingrollup", "timestamp", models.DateTimeField(null=True)),
        migrations.AddField("pendingrollup", "model", models.CharField(max_length=200, null=True)),
        migrations.AddField("pendingrollup", "is_error", models.BooleanField(default=False)),
        migrations.AddField(
            "pendingrollup", "entity_type", models.CharField(max_length=128, null=True)
        ),
        migrations.AddField(
            "pendingrollup", "entity_id", models.CharField(max_length=128, null=True)
        ),
        migrations.AddField("pendingrollup", "cost_nanos", models.BigIntegerField(default=0)),
        migrations.AddField("pendingrollup", "input_tokens", models.BigIntegerField(default=0)),
        migrations.AddField("pendingrollup", "output_tokens", models.BigIntegerField(default=0)),
        migrations.AddField(
            "pendingrollup", "cached_input_tokens", models.BigIntegerField(default=0)
        ),
        migrations.AddField("pendingrollup", "tags", models.JSONField(null=True)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField("pendingrollup", "session_id", models.CharField(max_length=256)),
        migrations.AlterField("pendingrollup", "timestamp", models.DateTimeField()),
        migrations.AlterField("pendingrollup", "model", models.CharField(max_length=200)),
        migrations.AddIndex(
            model_name="pendingrollup",
            index=models.Index(
                fields=["organization_id", "session_id", "id"], name="pending_org_session"
            ),
        ),
    ]
