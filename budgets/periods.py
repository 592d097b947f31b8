"""Budget periods: calendar day, week (from Monday) and month at midnight in the organization's
time zone, or a rolling window of hours. Bounds are UTC instants, start inclusive, end
exclusive, so a day across a DST change is 23 or 25 hours long.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

# The one period key of every rolling window (see Alert.period_key).
ROLLING_KEY = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    key: datetime
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _midnight(day: date, zone: tzinfo) -> datetime:
    # Wall-clock midnight in the zone; zoneinfo resolves the offset in force then.
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _first_day(kind: str, day: date) -> date:
    if kind == "day":
        return day
    if kind == "week":
        return day - timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    raise ValueError(f"not a calendar period: {kind}")


def _next_first_day(kind: str, first: date) -> date:
    if kind == "day":
        return first + timedelta(days=1)
    if kind == "week":
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def calendar_period(kind: str, moment: datetime, time_zone: str) -> Period:
    """The calendar period of `kind` that contains `moment`."""
    zone = ZoneInfo(time_zone)
    first = _first_day(kind, moment.astimezone(zone).date())
    start = _midnight(first, zone)
    return Period(key=start, start=start, end=_midnight(_next_first_day(kind, first), zone))


def previous_period(kind: str, period: Period, time_zone: str) -> Period:
    return calendar_period(kind, period.start - timedelta(seconds=1), time_zone)


def rolling_period(window_hours: int, now: datetime) -> Period:
    return Period(key=ROLLING_KEY, start=now - timedelta(hours=window_hours), end=now)
