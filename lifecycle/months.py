"""UTC calendar months: the unit of the events table's partitions and their names."""

from collections.abc import Iterable
from datetime import UTC, date, datetime

from ingestion.models import Event

PARENT = Event._meta.db_table
DEFAULT_PARTITION = f"{PARENT}_default"
_PREFIX = f"{PARENT}_y"


def month_of(moment: datetime) -> date:
    """The first day of `moment`'s UTC month (naive datetimes are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_from(first: date, count: int) -> list[date]:
    months = [first]
    while len(months) < count:
        months.append(next_month(months[-1]))
    return months


def months_of(moments: Iterable[datetime]) -> set[date]:
    return {month_of(moment) for moment in moments}


def partition_name(month: date) -> str:
    return f"{_PREFIX}{month.year:04d}m{month.month:02d}"


def month_of_partition(name: str) -> date | None:
    """The month a partition named by partition_name() holds; None for any other table."""
    if not name.startswith(_PREFIX) or len(name) != len(_PREFIX) + 7:
        return None
    year, month = name[len(_PREFIX) : len(_PREFIX) + 4], name[-2:]
    if not (year.isdigit() and month.isdigit()):
        return None
    return date(int(year), int(month), 1)


def start_of(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def bound_literal(month: date) -> str:
    """A partition bound as a timestamptz literal with an explicit UTC offset (independent of
    the session's TimeZone)."""
    return f"'{month.isoformat()} 00:00:00+00'"
