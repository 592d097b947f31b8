"""Budgets test helpers: budgets made through the service layer, spend put in through ingest."""

from decimal import Decimal
from typing import Any

from budgets.models import Budget
from budgets.services import budget_create
from infraprism.models import Organization


def make_budget(organization: Organization, **fields: Any) -> Budget:
    values: dict[str, Any] = {
        "name": "test budget",
        "scope": "organization",
        "period": "day",
        "limit": Decimal("1.00"),
        "thresholds": [Decimal("0.5"), Decimal("0.8"), Decimal("1")],
    }
    values.update(fields)
    return budget_create(organization=organization, **values)


def call(cost: str, **fields: Any) -> dict[str, Any]:
    """One priced call in a session (sessionless calls reach the rollup later: see the brief)."""
    from tests.factories import event

    return event(cost=float(Decimal(cost)), session_id=fields.pop("session_id", "s-1"), **fields)
