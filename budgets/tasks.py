"""Celery entry points: thin wrappers around the budget services (ids in, no results out)."""

from celery import shared_task

from budgets.debounce import evaluation_marker_clear
from budgets.deliveries import deliveries_due, delivery_attempt
from budgets.evaluation import budgets_evaluate_organization, organizations_with_budgets
from sessions.tasks import ROLLUP_TASK_OPTIONS

# Same options as the rollup's: redelivered when a worker dies (evaluation is idempotent under
# its UNIQUE rows; an attempt is leased and recorded only by its claimant), bounded retries
# on transient database and broker errors.
TASK_OPTIONS = ROLLUP_TASK_OPTIONS


@shared_task(name="budgets.evaluate", **TASK_OPTIONS)
def evaluate(organization_id: int) -> int:
    # Clear the marker first: spend committed from now on schedules another evaluation.
    evaluation_marker_clear(organization_id=organization_id)
    stats = budgets_evaluate_organization(organization_id=organization_id)
    return stats.crossed + stats.recovered


@shared_task(name="budgets.evaluate_all", **TASK_OPTIONS)
def evaluate_all() -> int:
    """Beat: evaluate every organization with budgets (rolling windows slide with time; a
    lost evaluation task is made up for)."""
    for organization_id in organizations_with_budgets():
        evaluate.apply_async(args=(organization_id,), retry=False)
    return 0


@shared_task(name="budgets.deliver", **TASK_OPTIONS)
def deliver(delivery_id: int) -> str | None:
    return delivery_attempt(delivery_id=delivery_id)


@shared_task(name="budgets.deliveries_due", **TASK_OPTIONS)
def enqueue_due_deliveries() -> int:
    """Beat: enqueue every delivery that is due (retries, lost enqueues, expired leases)."""
    due = deliveries_due()
    for delivery_id in due:
        deliver.apply_async(args=(delivery_id,), retry=False)
    return len(due)
