-- Distribute InfraPrism's schema over a Citus cluster by organization (docs/scaling.md).
-- Run once on the coordinator, after `manage.py migrate` against it and before traffic:
--   psql "$COORDINATOR_URL" -v ON_ERROR_STOP=1 -f lifecycle/citus.sql
-- Not run here (no Docker engine on the development machine): see docs/scaling.md for what was
-- verified instead.

-- Reference tables: small, read by every shard's statements, copied to every node. Tables that
-- other reference tables point at come first.
SELECT create_reference_table('django_content_type');
SELECT create_reference_table('auth_permission');
SELECT create_reference_table('auth_group');
SELECT create_reference_table('auth_group_permissions');
SELECT create_reference_table('auth_user');
SELECT create_reference_table('auth_user_groups');
SELECT create_reference_table('auth_user_user_permissions');
SELECT create_reference_table('infraprism_organization');
SELECT create_reference_table('infraprism_membership');
SELECT create_reference_table('infraprism_apikey');
SELECT create_reference_table('ingestion_modelprice');

-- Distributed by organization_id, all co-located with the events, so a statement joining any
-- of them for one organization runs on one worker. ingestion_event is partitioned by month:
-- its partitions (and any attached later by lifecycle.partitions) are distributed with it.
SELECT create_distributed_table('ingestion_event', 'organization_id');
SELECT create_distributed_table('ingestion_eventkey', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('ingestion_pendingrollup', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('llm_sessions_session', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('costs_daily', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('costs_daily_tags', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('budgets_budget', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('budgets_alert', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('budgets_webhookendpoint', 'organization_id',
                                colocate_with => 'ingestion_event');
SELECT create_distributed_table('budgets_webhookdelivery', 'organization_id',
                                colocate_with => 'ingestion_event');

-- Left as local tables on the coordinator: django_migrations, django_session,
-- django_admin_log, axes_* (login throttling), celery beat state lives in a file.
