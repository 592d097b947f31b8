"""Budget evaluation: compare spend with each threshold and record each transition once.

For every enabled budget of the organization, under a lock on the budget row (so evaluations
of one budget run one after another, each seeing at least what the one before saw), for each
period worth looking at and each scope key:

- spend >= threshold x limit, and the latest transition of (key, threshold, period) is none or
  a recovery: record a `budget.threshold_crossed`;
- spend below it, and the latest transition is a crossing: record a `budget.recovered`.

Recording is an INSERT under the UNIQUE (organization, budget, scope key, threshold, period,
transition): if another evaluation got there first, the insert conflicts and this one sends
nothing. The webhook deliveries are created in the same transaction and enqueued on commit.

Periods looked at: the current one, the previous one (late events land in their own period),
and any earlier period still holding an unrecovered crossing (re-pricing can bring it under);
never a period that starts before the organization's retention cutoff, whose events may be
partly deleted (its spend is no longer the whole spend: no false recovery).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.db.models.functions import Mod
from django.utils import timezone

from budgets.deliveries import deliveries_create_for_alert
from budgets.models import Alert, Budget
from budgets.periods import Period, calendar_period, previous_period, rolling_period
from budgets.spend import spend_by_scope_key
from infraprism.models import Organization

logger = logging.getLogger(__name__)
_EXACT = Context(prec=80)
# Earlier periods with an open crossing re-checked per evaluation (newest first).
MAX_OPEN_PERIODS = 24


@dataclass
class EvaluationStats:
    budgets: int = 0
    crossed: int = 0
    recovered: int = 0


def threshold_nanos(threshold: Decimal, limit_nanos: int) -> Decimal:
    return _EXACT.multiply(threshold, Decimal(limit_nanos))


def _latest_transitions(budget: Budget, period_key: datetime) -> dict[tuple[str, Decimal], int]:
    rows = (
        Alert.objects.filter(
            organization_id=budget.organization_id, budget_id=budget.pk, period_key=period_key
        )
        .values("scope_key", "threshold")
        .annotate(last=Max("transition"))
    )
    return {(r["scope_key"], Decimal(r["threshold"]).normalize()): r["last"] for r in rows}


def retention_cutoff(organization: Organization, now: datetime) -> datetime | None:
    days = organization.retention_days or getattr(settings, "EVENT_RETENTION_DAYS", None)
    return now - timedelta(days=days) if days else None


def _periods(budget: Budget, now: datetime, organization: Organization) -> list[Period]:
    cutoff = retention_cutoff(organization, now)
    periods = _candidate_periods(budget, now, organization.time_zone)
    return [p for p in periods if cutoff is None or p.start >= cutoff]


def _candidate_periods(budget: Budget, now: datetime, time_zone: str) -> list[Period]:
    if budget.period == Budget.Period.ROLLING:
        return [rolling_period(budget.window_hours or 1, now)]
    current = calendar_period(budget.period, now, time_zone)
    periods = [current, previous_period(budget.period, current, time_zone)]
    open_keys = (
        Alert.objects.filter(organization_id=budget.organization_id, budget_id=budget.pk)
        .filter(period_key__lt=periods[1].key)
        .values("period_key", "scope_key", "threshold")
        .annotate(last=Max("transition"))
        .annotate(recovered=Mod(F("last"), 2))
        .filter(recovered=0)  # the latest transition is a crossing
        .order_by("-period_key")
        .values_list("period_key", flat=True)
    )
    for key in list(dict.fromkeys(open_keys))[:MAX_OPEN_PERIODS]:
        periods.append(calendar_period(budget.period, key, time_zone))
    return periods


def _record(
    budget: Budget,
    period: Period,
    *,
    scope_key: str,
    threshold: Decimal,
    transition: int,
    spend_nanos: int,
    now: datetime,
) -> Alert | None:
    kind = Alert.Type.CROSSED if transition % 2 == 0 else Alert.Type.RECOVERED
    try:
        with transaction.atomic():  # a savepoint: a conflict leaves the evaluation going
            alert = Alert.objects.create(
                organization_id=budget.organization_id,
                budget=budget,
                type=kind,
                scope_key=scope_key,
                threshold=threshold,
                period_key=period.key,
                transition=transition,
                period_start=period.start,
                period_end=period.end,
                spend_nanos=spend_nanos,
                limit_nanos=budget.limit_nanos,
                created_at=now,
            )
    except IntegrityError:
        return None  # another evaluation recorded this transition: it sends it
    deliveries_create_for_alert(alert=alert, budget=budget)
    return alert


def _evaluate_period(budget: Budget, period: Period, now: datetime, stats: EvaluationStats) -> None:
    thresholds = budget.threshold_values()
    latest = _latest_transitions(budget, period.key)
    lowest = min(threshold_nanos(t, budget.limit_nanos) for t in thresholds)
    spends = spend_by_scope_key(
        budget,
        period.start,
        period.end,
        at_least=int(lowest.to_integral_value(rounding="ROUND_CEILING")),
        keys={key for key, _ in latest},
    )
    for scope_key, spend in sorted(spends.items()):
        for threshold in thresholds:
            last = latest.get((scope_key, threshold.normalize()))
            is_crossed = last is not None and last % 2 == 0
            over = Decimal(spend) >= threshold_nanos(threshold, budget.limit_nanos)
            if over == is_crossed:
                continue
            transition = 0 if last is None else last + 1
            alert = _record(
                budget,
                period,
                scope_key=scope_key,
                threshold=threshold,
                transition=transition,
                spend_nanos=spend,
                now=now,
            )
            if alert is not None and over:
                stats.crossed += 1
            elif alert is not None:
                stats.recovered += 1


def budget_evaluate(
    *, budget_id: int, organization: Organization, now: datetime | None = None
) -> EvaluationStats:
    stats = EvaluationStats()
    with transaction.atomic():
        budget = Budget.objects.select_for_update().filter(pk=budget_id, enabled=True).first()
        if budget is None:
            return stats
        stats.budgets = 1
        moment = now or timezone.now()
        for period in _periods(budget, moment, organization):
            _evaluate_period(budget, period, moment, stats)
    return stats


def budgets_evaluate_organization(
    *, organization_id: int, now: datetime | None = None
) -> EvaluationStats:
    """Evaluate every enabled budget of the organization (each in its own transaction)."""
    total = EvaluationStats()
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return total
    ids = Budget.objects.filter(organization_id=organization_id, enabled=True).values_list(
        "pk", flat=True
    )
    for budget_id in list(ids):
        stats = budget_evaluate(budget_id=budget_id, organization=org, now=now)
        total.budgets += stats.budgets
        total.crossed += stats.crossed
        total.recovered += stats.recovered
    if total.crossed or total.recovered:
        logger.info(
            "budgets org=%s crossed=%d recovered=%d", org.slug, total.crossed, total.recovered
        )
    return total


def organizations_with_budgets() -> list[int]:
    return list(
        Budget.objects.filter(enabled=True)
        .values_list("organization_id", flat=True)
        .distinct()
        .order_by("organization_id")
    )
