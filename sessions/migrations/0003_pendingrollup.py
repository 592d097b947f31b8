"""The pending-rollup queue moves from `ingestion` to `sessions` (the rollup owns its queue).

State only: the table keeps its name and its rows; ingestion 0006 drops the old model state.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("llm_sessions", "0002_session_gin_indexes"),
        ("ingestion", "0005_event_day_statistics"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PendingRollup",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("organization_id", models.BigIntegerField()),
                        ("session_id", models.CharField(max_length=256)),
                        ("event_pk", models.BigIntegerField()),
                        ("timestamp", models.DateTimeField()),
                        ("model", models.CharField(max_length=200)),
                        ("is_error", models.BooleanField(default=False)),
                        ("entity_type", models.CharField(max_length=128, null=True)),
                        ("entity_id", models.CharField(max_length=128, null=True)),
                        ("cost_nanos", models.BigIntegerField(default=0)),
                        ("input_tokens", models.BigIntegerField(default=0)),
                        ("output_tokens", models.BigIntegerField(default=0)),
                        ("cached_input_tokens", models.BigIntegerField(default=0)),
                        ("tags", models.JSONField(null=True)),
                    ],
                    options={
                        "db_table": "ingestion_pendingrollup",
                        "indexes": [
                            models.Index(
                                fields=["organization_id", "session_id", "id"],
                                name="pending_org_session",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
