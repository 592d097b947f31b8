"""PendingRollup now belongs to `sessions` (llm_sessions 0003): drop its state here, keep the
table and its rows."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0005_event_day_statistics"),
        ("llm_sessions", "0003_pendingrollup"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="PendingRollup")],
            database_operations=[],
        ),
    ]
