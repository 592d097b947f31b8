from django.db import migrations

from infraprism.migration_ops import postgres_only_sql

# session_org_first is rebuilt to also carry last_seen, total_cost_nanos and turn_count, so
# the metrics statements (analytics/selectors.session_metrics, dashboard histograms) over a
# date range read this narrow index only (an index-only scan) instead of the wide table rows.
# The key columns and the name stay the same, so the model state (sessions/models.py) and its
# keyset orderings are unchanged, and the table keeps the same number of indexes to update.
# SQLite keeps the plain index.
COVERING = (
    "CREATE INDEX session_org_first ON llm_sessions_session "
    "(organization_id, first_seen, id) INCLUDE (last_seen, total_cost_nanos, turn_count)"
)
PLAIN = "CREATE INDEX session_org_first ON llm_sessions_session (organization_id, first_seen, id)"


class Migration(migrations.Migration):
    dependencies = [("llm_sessions", "0004_exact_totals_and_event_id_order")]

    operations = [
        postgres_only_sql("DROP INDEX session_org_first", PLAIN),
        postgres_only_sql(COVERING, "DROP INDEX session_org_first"),
    ]
