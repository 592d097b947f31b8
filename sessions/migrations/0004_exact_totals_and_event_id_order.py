"""Hardening (issue 10 items 1 and 3):

- session totals become exact for any size (NanoDollarSumField: NUMERIC on PostgreSQL);
- ties on timestamp go to the smaller event_id: the queue carries each event's event_id, and
  on PostgreSQL every session's entity and tags (with their ranks, now (timestamp, event_id)
  packed as in sessions/rollup/postgres.py, and longer) are recomputed from its events once.
  Already-merged values are minima over events, so recomputing them, pending events included,
  is what the rollup would have produced; counts and sums are untouched.

Backwards, totals above 2**63 - 1 nano-dollars cannot go back to BIGINT (the migration fails
rather than lose them) and the ranks are forgotten (forget_ranks).
"""

from typing import Any

from django.db import migrations, models

import sessions.fields

_BACKFILL_EVENT_ID = """
UPDATE ingestion_pendingrollup SET event_id = (
    SELECT e.event_id FROM ingestion_event e WHERE e.id = ingestion_pendingrollup.event_pk)
"""

# Frozen copy of sessions.rollup.postgres.RANK.
_RANK = (
    "to_char(timestamp AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') "
    "|| encode(convert_to(event_id, 'UTF8'), 'hex') || '.'"
)
_RERANK_ENTITY = f"""
WITH firsts AS (
    SELECT DISTINCT ON (organization_id, session_id)
           organization_id, session_id, entity_type, entity_id, {_RANK} AS rank
    FROM ingestion_event
    WHERE session_id IS NOT NULL AND entity_type IS NOT NULL AND entity_id IS NOT NULL
    ORDER BY organization_id, session_id, "timestamp", event_id COLLATE "C"
)
UPDATE llm_sessions_session s
SET entity_type = f.entity_type, entity_id = f.entity_id, entity_rank = f.rank
FROM firsts f WHERE s.organization_id = f.organization_id AND s.session_id = f.session_id
"""
_RERANK_TAGS = f"""
WITH firsts AS (
    SELECT DISTINCT ON (organization_id, session_id, j.key)
           organization_id, session_id, j.key, j.value, {_RANK} AS rank
    FROM ingestion_event CROSS JOIN LATERAL jsonb_each(tags) j
    WHERE session_id IS NOT NULL
    ORDER BY organization_id, session_id, j.key, "timestamp", event_id COLLATE "C"
), merged AS (
    SELECT organization_id, session_id,
           jsonb_object_agg(key, value) AS tags, jsonb_object_agg(key, rank) AS ranks
    FROM firsts GROUP BY organization_id, session_id
)
UPDATE llm_sessions_session s SET tags = m.tags, tag_ranks = m.ranks
FROM merged m WHERE s.organization_id = m.organization_id AND s.session_id = m.session_id
"""


def backfill_event_ids(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(_BACKFILL_EVENT_ID)


def rerank(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_RERANK_ENTITY)
        schema_editor.execute(_RERANK_TAGS)


def forget_ranks(apps: Any, schema_editor: Any) -> None:
    """Backwards: the new ranks mean nothing to the old rollup (and do not fit its 48
    characters); without a rank the next chunk's earliest event supplies entity and tags."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "UPDATE llm_sessions_session SET entity_rank = NULL, tag_ranks = '{}'::jsonb"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("llm_sessions", "0003_pendingrollup"),
        ("ingestion", "0006_pendingrollup_moved_to_sessions"),
    ]

    operations = [
        migrations.AddField(
            model_name="pendingrollup",
            name="event_id",
            field=models.CharField(default="", max_length=128),
            preserve_default=False,
        ),
        migrations.RunPython(backfill_event_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="session",
            name="total_cost_nanos",
            field=sessions.fields.NanoDollarSumField(default=0),
        ),
        migrations.AlterField(
            model_name="session",
            name="entity_rank",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(rerank, forget_ranks),
    ]
