"""Calendar periods at midnight in the organization's zone, across a DST change, and the
evaluation that uses them; the debounced Celery enqueue."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from budgets.evaluation import budgets_evaluate_organization
from budgets.models import Alert
from budgets.periods import calendar_period, previous_period, rolling_period
from budgets.scheduling import on_spend_changed
from infraprism.models import Organization
from tests.budgets.helpers import call, make_budget
from tests.conftest import KeyClient

NY = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "moment", "start", "end"),
    [
        # 2026-11-01: clocks go back at 02:00 EDT, so the day has 25 hours.
        ("day", "2026-11-01T12:00:00", "2026-11-01T04:00:00", "2026-11-02T05:00:00"),
        ("day", "2026-11-02T04:59:59", "2026-11-01T04:00:00", "2026-11-02T05:00:00"),
        ("day", "2026-11-02T05:00:00", "2026-11-02T05:00:00", "2026-11-03T05:00:00"),
        # 2026-03-08: clocks go forward, 23 hours.
        ("day", "2026-03-08T12:00:00", "2026-03-08T05:00:00", "2026-03-09T04:00:00"),
        # The week from Monday 2026-10-26 holds the change: 7 days and 1 hour.
        ("week", "2026-11-01T12:00:00", "2026-10-26T04:00:00", "2026-11-02T05:00:00"),
        ("month", "2026-11-15T00:00:00", "2026-11-01T04:00:00", "2026-12-01T05:00:00"),
        ("month", "2026-12-31T23:00:00", "2026-12-01T05:00:00", "2027-01-01T05:00:00"),
    ],
)
def test_calendar_periods_in_new_york(kind: str, moment: str, start: str, end: str) -> None:
    period = calendar_period(kind, utc(moment), NY)
    assert (period.start, period.end) == (utc(start), utc(end))
    assert period.key == period.start
    assert previous_period(kind, period, NY).end == period.start


def test_day_length_across_dst() -> None:
    assert calendar_period("day", utc("2026-11-01T12:00:00"), NY).seconds == 25 * 3600
    assert calendar_period("day", utc("2026-11-01T12:00:00"), "UTC").seconds == 24 * 3600


def test_rolling_window() -> None:
    now = utc("2026-11-01T12:00:00")
    window = rolling_period(6, now)
    assert (window.start, window.end) == (utc("2026-11-01T06:00:00"), now)


@pytest.mark.django_db
def test_evaluation_counts_the_25_hour_day(org: Organization, client: KeyClient) -> None:
    org.time_zone = NY
    org.save()
    budget = make_budget(org, limit=Decimal("1"), thresholds=[Decimal("1")])
    # 00:30 EDT and 23:30 EST: both on 2026-11-01 in New York (UTC days differ).
    client.post_json("/v1/events", call("0.6", timestamp="2026-11-01T04:30:00Z"))
    client.post_json("/v1/events", call("0.4", timestamp="2026-11-02T04:30:00Z"))
    client.post_json("/v1/events", call("5", timestamp="2026-11-02T05:00:00Z"))  # next day
    budgets_evaluate_organization(organization_id=org.pk, now=utc("2026-11-02T04:45:00"))
    alert = Alert.objects.get(budget=budget)
    assert alert.spend_nanos == 10**9
    assert (alert.period_start, alert.period_end) == (
        utc("2026-11-01T04:00:00"),
        utc("2026-11-02T05:00:00"),
    )
    # In UTC the same two calls fall on two days: nothing crossed.
    org.time_zone = "UTC"
    org.save()
    Alert.objects.all().delete()
    budgets_evaluate_organization(organization_id=org.pk, now=utc("2026-11-01T23:00:00"))
    assert not Alert.objects.exists()


@pytest.mark.django_db
@pytest.mark.skipif(not django_settings.REDIS_URL, reason="the enqueue path needs Redis")
def test_a_burst_of_chunks_enqueues_one_evaluation(org: Organization, settings: Any) -> None:
    from infraprism import redis_client

    settings.ROLLUP_IN_PROCESS = False
    make_budget(org)
    client = redis.Redis.from_url(settings.REDIS_URL)
    marker = f"budgets:evaluate:{org.pk}"
    client.delete(marker)
    redis_client._down_until = 0.0
    queued = int(client.llen("celery"))  # type: ignore[arg-type]  # sync client
    for _ in range(5):
        on_spend_changed(sender=None, organization_id=org.pk, events=10)
    on_spend_changed(sender=None, organization_id=None, events=10)  # a sweep across orgs
    now_queued = int(client.llen("celery"))  # type: ignore[arg-type]
    assert now_queued - queued == 1 and client.exists(marker)
    message: Any = client.lindex("celery", 0)  # LPUSH: the newest is first
    assert message is not None and b"budgets.evaluate" in message
    client.lrem("celery", 1, message)
    client.delete(marker)
