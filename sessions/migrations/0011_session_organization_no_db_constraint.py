"""Session.organization without a foreign key constraint in the database (the model's comment
says why): the deferred check ran once per new session row at the rollup's commit, 3% of a
drain's database CPU in a perf profile (docs/performance.md). The queue, the daily tables and
the event keys already go without one. Django still cascades an organization's deletion."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("infraprism", "0003_organization_time_zone_retention"),
        ("llm_sessions", "0010_daily_tag_costs"),
    ]

    operations = [
        migrations.AlterField(
            model_name="session",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="infraprism.organization",
            ),
        ),
    ]
