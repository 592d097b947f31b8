"""Celery task failures and retries, counted from Celery's signals in the worker process.

Connected by infraprism/celery.py. The handlers import the metric definitions only when they
fire, so importing this module never imports prometheus_client before settings have run.
"""

from typing import Any

from celery.signals import task_failure, task_retry
from django.conf import settings


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or "unknown")


def _on_failure(sender: Any = None, **_: Any) -> None:
    if settings.METRICS_ENABLED:
        from metrics.definitions import CELERY_TASK_FAILURES

        CELERY_TASK_FAILURES.labels(task=_task_name(sender)).inc()


def _on_retry(sender: Any = None, **_: Any) -> None:
    if settings.METRICS_ENABLED:
        from metrics.definitions import CELERY_TASK_RETRIES

        CELERY_TASK_RETRIES.labels(task=_task_name(sender)).inc()


def connect_task_signals() -> None:
    task_failure.connect(_on_failure, weak=False, dispatch_uid="metrics.task_failure")
    task_retry.connect(_on_retry, weak=False, dispatch_uid="metrics.task_retry")
