"""Query-string filters of the Analytics API (django-filter).

Dates: `YYYY-MM-DD` (a whole day in `tz`, both ends inclusive) or a full ISO 8601 datetime
(naive ones are read in `tz`). Every bad value is a 400 naming the parameter.
"""

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from analytics import dialect
from infraprism.money import usd_to_nanos_ceil

MAX_TAG_FILTERS = 10


class ZoneField(forms.CharField):
    def to_python(self, value: Any) -> ZoneInfo | None:  # type: ignore[override]
        value = super().to_python(value)
        if not value:
            return None
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long for a path
            raise forms.ValidationError(
                "unknown time zone %(value)s; use an IANA name such as Europe/Paris",
                params={"value": repr(value[:100])},
            ) from None


class DateBoundField(forms.CharField):
    """A date or an ISO datetime; returned as-is, resolved against `tz` by the filter set."""

    def to_python(self, value: Any) -> date | datetime | None:  # type: ignore[override]
        value = super().to_python(value)
        if not value:
            return None
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise forms.ValidationError(
                "must be a date YYYY-MM-DD or an ISO 8601 datetime such as 2025-01-01T12:00:00Z"
            ) from None


class TagField(forms.CharField):
    def to_python(self, value: Any) -> tuple[str, str] | None:  # type: ignore[override]
        value = super().to_python(value)
        if not value:
            return None
        key, sep, tag_value = value.partition(":")
        if not sep or not key:
            raise forms.ValidationError("must be key:value, for example feature:chatbot")
        return key, tag_value


class MultipleTagField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[tuple[str, str]]:
        values = value if isinstance(value, list) else ([value] if value else [])
        if len(values) > MAX_TAG_FILTERS:
            raise forms.ValidationError(f"at most {MAX_TAG_FILTERS} tag filters")
        parsed = [TagField().clean(v) for v in values]
        return [p for p in parsed if p is not None]


class ZoneFilter(django_filters.Filter):
    field_class = ZoneField


class DateBoundFilter(django_filters.Filter):
    field_class = DateBoundField


class TagFilter(django_filters.Filter):
    field_class = MultipleTagField


def _to_aware(value: date | datetime, zone: tzinfo, end: bool) -> datetime:
    """The instant a bound stands for, in UTC. Both ends are inclusive, so the exclusive end
    returned for an end date is the next midnight and for an end datetime the next microsecond.
    Raises OverflowError for a bound outside the datetime range."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        # UTC before the database sees it: PostgreSQL rejects offsets Python allows (+20:00).
        instant = aware.astimezone(UTC)
        return instant + timedelta(microseconds=1) if end else instant
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


class AnalyticsFilterSet(django_filters.FilterSet):
    """Common filters. Subclasses say how a time range and a model/tag filter apply."""

    entity_type = django_filters.CharFilter(max_length=128)
    entity_id = django_filters.CharFilter(max_length=128)
    start_date = DateBoundFilter(method="_by_range", help_text="Inclusive; date or datetime")
    end_date = DateBoundFilter(method="_by_range", help_text="Inclusive; date or datetime")
    tz = ZoneFilter(method="_by_range", help_text="IANA time zone for dates (default UTC)")
    model = django_filters.CharFilter(method="_by_model", max_length=200)
    tag = TagFilter(method="_by_tags", help_text="key:value; repeat for several (all must match)")

    @property
    def zone(self) -> tzinfo:
        return self.form.cleaned_data.get("tz") or UTC

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) as aware UTC datetimes, either open."""
        data = self.form.cleaned_data
        bounds: list[datetime | None] = []
        for name, is_end in (("start_date", False), ("end_date", True)):
            value = data.get(name)
            try:
                bounds.append(_to_aware(value, self.zone, end=is_end) if value else None)
            except OverflowError:
                raise forms.ValidationError(
                    {name: "is outside the range of supported dates"}
                ) from None
        return bounds[0], bounds[1]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if valid:
            try:
                start, end = self.time_range()
            except forms.ValidationError as exc:
                self.form.add_error(None, exc)
                return False
            if start and end and start >= end:
                self.form.add_error("end_date", "must not be before start_date")
                return False
        return valid

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        start, end = self.time_range()
        return self.apply_range(queryset, start, end)

    def apply_range(
        self, queryset: QuerySet[Any], start: datetime | None, end: datetime | None
    ) -> QuerySet[Any]:
        raise NotImplementedError

    def _by_range(self, queryset: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        return queryset  # applied once, in filter_queryset, when all bounds and tz are known

    def _by_model(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        raise NotImplementedError

    def _by_tags(
        self, queryset: QuerySet[Any], name: str, value: list[tuple[str, str]]
    ) -> QuerySet[Any]:
        for key, tag_value in value:
            queryset = queryset.filter(dialect.tag_equals(queryset.model, key, tag_value))
        return queryset


class SessionFilterSet(AnalyticsFilterSet):
    min_cost = django_filters.NumberFilter(method="_by_min_cost", min_value=0)
    min_turns = django_filters.NumberFilter(field_name="turn_count", lookup_expr="gte", min_value=0)

    def apply_range(
        self, queryset: QuerySet[Any], start: datetime | None, end: datetime | None
    ) -> QuerySet[Any]:
        # Sessions whose activity [first_seen, last_seen] overlaps [start, end).
        if start:
            queryset = queryset.filter(last_seen__gte=start)
        if end:
            queryset = queryset.filter(first_seen__lt=end)
        return queryset

    def _by_model(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(dialect.list_contains(queryset.model, "models", value))

    def _by_min_cost(self, queryset: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        return queryset.filter(total_cost_nanos__gte=usd_to_nanos_ceil(value))


class EventFilterSet(AnalyticsFilterSet):
    session_id = django_filters.CharFilter(max_length=256)
    status = django_filters.ChoiceFilter(choices=[("success", "success"), ("error", "error")])
    provider = django_filters.CharFilter(max_length=64)

    def apply_range(
        self, queryset: QuerySet[Any], start: datetime | None, end: datetime | None
    ) -> QuerySet[Any]:
        if start:
            queryset = queryset.filter(timestamp__gte=start)
        if end:
            queryset = queryset.filter(timestamp__lt=end)
        return queryset

    def _by_model(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(Q(model=value))
