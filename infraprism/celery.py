"""The Celery app: Redis broker, JSON only, no result backend, beat schedule in code."""

import os

from celery import Celery
from celery.schedules import crontab

from metrics.celery_signals import connect_task_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infraprism.settings")

app = Celery("infraprism")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task failures and retries as Prometheus counters (no-ops unless METRICS_ENABLED).
connect_task_signals()


@app.on_after_finalize.connect
def _beat_schedule(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.conf.beat_schedule = {
        "sessions-sweep": {
            "task": "sessions.sweep",
            "schedule": settings.ROLLUP_SWEEP_SECONDS,
            # A sweep that cannot start before the next one is due is pointless.
            "options": {"expires": settings.ROLLUP_SWEEP_SECONDS},
        },
        # Data lifecycle (lifecycle/tasks.py), at quiet hours (UTC): partitions ahead first.
        "lifecycle-partitions": {
            "task": "lifecycle.partitions",
            "schedule": crontab(minute=15, hour=2),
        },
        "lifecycle-retention": {
            "task": "lifecycle.retention",
            "schedule": crontab(minute=30, hour=2),
        },
        "budgets-evaluate-all": {
            "task": "budgets.evaluate_all",
            "schedule": settings.BUDGET_EVALUATE_SECONDS,
            "options": {"expires": settings.BUDGET_EVALUATE_SECONDS},
        },
        "budgets-deliveries-due": {
            "task": "budgets.deliveries_due",
            "schedule": settings.WEBHOOK_DUE_SWEEP_SECONDS,
            "options": {"expires": settings.WEBHOOK_DUE_SWEEP_SECONDS},
        },
    }
