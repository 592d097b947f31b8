"""The per-organization Redis marker that lets one evaluation task through per burst of rollup
chunks (the pattern of sessions/debounce.py). Redis trouble is recorded, never raised: the
beat's evaluate_all covers a lost task."""

from django.conf import settings

from infraprism.redis_client import marker_clear, marker_set


def _marker(organization_id: int) -> str:
    return f"budgets:evaluate:{organization_id}"


def evaluation_marker_set(*, organization_id: int) -> bool:
    """True when no evaluation was queued for the organization (the caller queues one)."""
    return marker_set(_marker(organization_id), settings.BUDGET_EVALUATE_DEBOUNCE_SECONDS)


def evaluation_marker_clear(*, organization_id: int) -> None:
    marker_clear(_marker(organization_id))
