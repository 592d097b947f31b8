"""Spend of a budget's scope in a period, summed from the stored events.

Events are idempotent by (organization, event_id) and carry integer nano-dollar costs, so the
sum over events whose timestamp is in [start, end) is exact, counts a late event in the period
it belongs to, and never counts a duplicate twice. Each query leads with the organization and
the timestamp range (index event_org_ts; entity scopes use event_org_entity; tags the GIN
index on PostgreSQL).
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet

from analytics.dialect import ExactSum, tag_equals
from budgets.models import Budget
from ingestion.models import Event


def _events(budget: Budget, start: datetime, end: datetime) -> QuerySet[Event]:
    events = Event.objects.filter(
        organization_id=budget.organization_id, timestamp__gte=start, timestamp__lt=end
    )
    scope = budget.scope
    if scope == Budget.Scope.ENTITY:
        return events.filter(entity_type=budget.entity_type, entity_id=budget.entity_id)
    if scope == Budget.Scope.ENTITY_TYPE:
        return events.filter(entity_type=budget.entity_type)
    if scope == Budget.Scope.TAG:
        return events.filter(tag_equals(Event, budget.tag_key or "", budget.tag_value or ""))
    if scope == Budget.Scope.MODEL:
        return events.filter(model=budget.model)
    return events


def spend_by_scope_key(
    budget: Budget,
    start: datetime,
    end: datetime,
    *,
    at_least: int = 0,
    keys: Iterable[str] = (),
) -> dict[str, int]:
    """{scope key: nano-dollars} for the period: "" for single-scope budgets; for an entity_type
    rule, the entities whose spend is at least `at_least`, and those named in `keys` (alerted
    before, so they may need a recovery) whatever their spend."""
    events = _events(budget, start, end)
    if budget.scope != Budget.Scope.ENTITY_TYPE:
        total = events.aggregate(spend=ExactSum("cost_nanos"))["spend"]
        return {"": int(total or 0)}
    wanted = list(keys)
    grouped = events.values("entity_id").annotate(spend=ExactSum("cost_nanos"))
    over = grouped.filter(spend__gte=at_least) if at_least > 0 else grouped
    found = {str(row["entity_id"]): int(row["spend"] or 0) for row in over}
    missing = [k for k in wanted if k not in found]
    if missing:
        for row in grouped.filter(Q(entity_id__in=missing)):
            found[str(row["entity_id"])] = int(row["spend"] or 0)
        for key in missing:
            found.setdefault(key, 0)
    return found
