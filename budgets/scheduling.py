"""Where budgets hear that spend changed, and how evaluation and deliveries get run.

Receivers of sessions.signals: `rollup_committed` (after every rollup chunk commits) and
`costs_changed` (after re-pricing commits). Embedded mode (ROLLUP_IN_PROCESS) evaluates and
delivers in-process; otherwise one Celery task per organization per burst (Redis SET NX
marker), and one task per delivery. Broker trouble is logged and never fails the caller: the
beat tasks (evaluate_all, deliveries_due) make up for a lost enqueue.
"""

import logging
from typing import Any

from django.conf import settings

from budgets.debounce import evaluation_marker_set
from budgets.deliveries import deliveries_due, delivery_attempt
from budgets.evaluation import budgets_evaluate_organization, organizations_with_budgets
from budgets.models import Budget
from budgets.tasks import deliver, evaluate
from infraprism.redis_client import mark_redis_down

logger = logging.getLogger(__name__)


def evaluation_schedule(*, organization_id: int) -> None:
    if settings.ROLLUP_IN_PROCESS:
        try:
            budgets_evaluate_organization(organization_id=organization_id)
            # No beat in embedded mode: retries that fell due go out with the next evaluation.
            deliveries_schedule(delivery_ids=deliveries_due())
        except Exception:
            logger.exception("in-process budget evaluation failed")
        return
    if not evaluation_marker_set(organization_id=organization_id):
        return
    try:
        evaluate.apply_async(args=(organization_id,), retry=False)
    except Exception as exc:  # noqa: BLE001 - kombu errors: the beat covers us
        mark_redis_down(exc)


def deliveries_schedule(*, delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        if settings.ROLLUP_IN_PROCESS:
            try:
                delivery_attempt(delivery_id=delivery_id)
            except Exception:
                logger.exception("in-process webhook delivery failed")
            continue
        try:
            deliver.apply_async(args=(delivery_id,), retry=False)
        except Exception as exc:  # noqa: BLE001 - the beat's due scan covers us
            mark_redis_down(exc)
            return


def _organizations(organization_id: int | None) -> list[int]:
    if organization_id is None:
        return organizations_with_budgets()
    if Budget.objects.filter(organization_id=organization_id, enabled=True).exists():
        return [organization_id]
    return []


def on_spend_changed(sender: Any, organization_id: int | None = None, **kwargs: Any) -> None:
    try:
        organizations = _organizations(organization_id)
    except Exception:
        logger.exception("budgets: could not list organizations to evaluate")
        return
    for org_id in organizations:
        evaluation_schedule(organization_id=org_id)


def connect_receivers() -> None:
    from sessions.signals import costs_changed, rollup_committed

    rollup_committed.connect(on_spend_changed, dispatch_uid="budgets.rollup_committed")
    costs_changed.connect(on_spend_changed, dispatch_uid="budgets.costs_changed")
