"""The daily tag cost table (sessions.models.DailyTagCost), distribution-ready and with half of
each page free like costs_daily, and its backfill.

Backfill: every stored event that is not pending adds to one row per tag it carries and to its
day's row under the key "" (all events; pending events fold in at their rollup, which from now
on folds them into this table too). Run it with
ingestion stopped or on an idle queue, as for 0007: an event folded by the old rollup between
the backfill and the new code's start would be in costs_daily but not here (docs/decisions.md).
"""

from typing import Any

from django.db import migrations, models

import sessions.fields
from infraprism.migration_ops import postgres_only_sql

_BIGINT_MAX = "9223372036854775807"
_TABLE = "costs_daily_tags"


def _backfill_sql(vendor: str) -> str:
    if vendor == "postgresql":
        day, cost, errors, tags = (
            "(e.timestamp AT TIME ZONE 'UTC')::date",
            "sum(e.cost_nanos)",
            "count(*) FILTER (WHERE e.status = 'error')",
            # The text `tags ->> key` gives, for every key of the event.
            "CROSS JOIN LATERAL jsonb_each_text(e.tags) t",
        )
        tokens = "LEAST(sum(e.{0}), " + _BIGINT_MAX + ")"
    else:
        day, cost, errors, tags = (
            "date(e.timestamp)",
            "exact_sum(e.cost_nanos)",
            "sum(e.status = 'error')",
            "CROSS JOIN json_each(e.tags) t",
        )
        tokens = "sum(e.{0})"
    sums = (
        f"{cost}, count(*), {tokens.format('input_tokens')}, {tokens.format('output_tokens')}, "
        f"{tokens.format('cached_input_tokens')}, {errors}"
    )
    folded = """NOT EXISTS (SELECT 1 FROM ingestion_pendingrollup p
                  WHERE p.event_pk = e.id AND p.organization_id = e.organization_id)"""
    # Written in a fixed version: the key "" is sessions/rollup/tag_daily.py's ALL_EVENTS.
    return f"""
INSERT INTO {_TABLE} (
    organization_id, day, tag_key, tag_value, cost_nanos, call_count, input_tokens,
    output_tokens, cached_input_tokens, error_count)
SELECT e.organization_id, {day}, t.key, t.value, {sums}
FROM ingestion_event e {tags}
WHERE {folded}
GROUP BY 1, 2, 3, 4
UNION ALL
SELECT e.organization_id, {day}, '', '', {sums}
FROM ingestion_event e
WHERE {folded}
GROUP BY 1, 2
"""


def backfill(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(_backfill_sql(schema_editor.connection.vendor))


class Migration(migrations.Migration):
    dependencies = [("llm_sessions", "0009_daily_cost_fillfactor")]

    operations = [
        migrations.CreateModel(
            name="DailyTagCost",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("organization_id", models.BigIntegerField()),
                ("day", models.DateField()),
                ("tag_key", models.CharField(max_length=64)),
                ("tag_value", models.CharField(max_length=256)),
                ("cost_nanos", sessions.fields.NanoDollarSumField(default=0)),
                ("call_count", models.BigIntegerField(default=0)),
                ("input_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("cached_input_tokens", models.BigIntegerField(default=0)),
                ("error_count", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": _TABLE,
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organization_id", "tag_key", "day", "tag_value"),
                        name="daily_tag_cost_key",
                    )
                ],
            },
        ),
        # Distribution-ready primary key (as 0008 did for costs_daily) and HOT updates (as
        # 0009): nearly every rollup chunk updates the same few rows, no updated column indexed.
        postgres_only_sql(
            f"ALTER TABLE {_TABLE} DROP CONSTRAINT {_TABLE}_pkey, "
            f"ADD CONSTRAINT {_TABLE}_pkey PRIMARY KEY (organization_id, id); "
            f"ALTER TABLE {_TABLE} SET (fillfactor = 50)",
            f"ALTER TABLE {_TABLE} RESET (fillfactor); "
            f"ALTER TABLE {_TABLE} DROP CONSTRAINT {_TABLE}_pkey, "
            f"ADD CONSTRAINT {_TABLE}_pkey PRIMARY KEY (id)",
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
