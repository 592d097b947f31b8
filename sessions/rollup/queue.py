"""What the events insert writes into the pending queue: one row per new event, carrying the
columns the rollup folds into sessions (events with a session) and the daily cost table (every
event; see sessions.models.PendingRollup).

ingestion/event_store.py splices these fragments into its insert statements, so the queue's
shape is defined here, beside the SQL that reads it.
"""

from sessions.models import PendingRollup

QUEUE_TABLE = PendingRollup._meta.db_table

# Queue columns, and the expressions that fill them from an events row (or the insert's
# RETURNING, which must return EVENT_SOURCE_COLUMNS).
PENDING_COLUMNS = (
    "organization_id, session_id, event_pk, event_id, timestamp, model, provider, is_error, "
    "entity_type, entity_id, cost_nanos, input_tokens, output_tokens, cached_input_tokens, tags"
)
PENDING_VALUES = (
    "organization_id, session_id, id, event_id, timestamp, model, provider, status = 'error', "
    "entity_type, entity_id, cost_nanos, input_tokens, output_tokens, cached_input_tokens, "
    "CASE WHEN tags = '{}' THEN NULL ELSE tags END"
)
EVENT_SOURCE_COLUMNS = (
    "id, event_id, organization_id, session_id, timestamp, model, provider, status, entity_type, "
    "entity_id, cost_nanos, input_tokens, output_tokens, cached_input_tokens, tags"
)


# Which events the rollup folds: the SQL condition (always a WHERE clause, so callers may
# append "AND ...") and the same test in Python, for deciding whether to schedule a rollup.
# Every event: the daily cost table counts sessionless calls too.
QUEUED_CONDITION = "id IS NOT NULL"


def is_queued(session_id: str | None) -> bool:
    return True


def queue_insert_from(source: str) -> str:
    """INSERT of the queue rows for the new events in `source` (a CTE or the events table).

    Ends in a WHERE clause: callers may append "AND ...".
    """
    return (
        f"INSERT INTO {QUEUE_TABLE} ({PENDING_COLUMNS}) "
        f"SELECT {PENDING_VALUES} FROM {source} WHERE {QUEUED_CONDITION}"
    )
