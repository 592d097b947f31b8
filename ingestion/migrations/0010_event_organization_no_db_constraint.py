"""Event.organization without a foreign key constraint in the database (the model's comment
says why). On PostgreSQL the constraint is dropped from the partitioned table and so from every
partition; SQLite rebuilds the table. Django still cascades an organization's deletion."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("infraprism", "0003_organization_time_zone_retention"),
        ("ingestion", "0009_events_partitioned_by_month"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="infraprism.organization",
            ),
        ),
    ]
