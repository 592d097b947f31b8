"""The per-organization Redis marker that lets one rollup task through per burst of ingests.

Shared by scheduling (sets it) and the task (clears it as it starts), so neither imports the
other for it. Redis trouble is recorded and never raised: the beat sweep covers a lost task.
"""

from django.conf import settings

from infraprism.redis_client import marker_clear, marker_set


def _marker(organization_id: int) -> str:
    return f"rollup:scheduled:{organization_id}"


def rollup_marker_set(*, organization_id: int) -> bool:
    """True when no rollup was queued for the organization (the caller should queue one)."""
    return marker_set(_marker(organization_id), settings.ROLLUP_DEBOUNCE_SECONDS)


def rollup_marker_clear(*, organization_id: int) -> None:
    marker_clear(_marker(organization_id))
