"""Query-string filters of the read path: parsed once into a ReadFilters value.

The django-filter sets below declare the parameters (their forms validate each value, and the
OpenAPI schema lists them); `read_filters` turns a query string into a frozen `ReadFilters`
that the selectors apply. Nothing here touches the database.

Values match exactly as stored: no stripping, and an empty or whitespace-only value is a 400
naming the parameter (an HTML form may ask to drop empty fields instead: `allow_blank=True`).
Dates: `YYYY-MM-DD` (a whole day in `tz`, both ends inclusive) or a full ISO 8601 datetime
(naive ones are read in `tz`).
"""

import functools
import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import django_filters
from django import forms
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError

from analytics.orderings import DEFAULT_SESSION_ORDERING, SESSION_ORDERINGS
from infraprism.money import usd_to_nanos_ceil
from ingestion.models import Event
from sessions.models import Session

Kind = Literal["sessions", "events"]
MAX_TAG_FILTERS = 10
# Ingestion's limits: a longer value can never match, so it is a mistake worth a 400.
TAG_KEY_MAX, TAG_VALUE_MAX = 64, 256
INT64_MAX = 2**63 - 1
# USD. Any larger threshold matches the same (no) sessions; the cap keeps the conversion to
# nano-dollars within exact decimal arithmetic.
MAX_MIN_COST = Decimal(10**18)
EMPTY = "must not be empty or whitespace-only; leave the parameter out instead"
HAS_NUL = "must not contain NUL (\\u0000) characters"
HAS_CONTROL = "must not contain control characters"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise forms.ValidationError(HAS_NUL)
    return value


class ExactCharField(forms.CharField):
    """Text matched exactly as sent: no stripping, no NUL (no stored text holds one)."""

    def __init__(self, *, no_control: bool = False, **kwargs: Any) -> None:
        kwargs["strip"] = False
        super().__init__(**kwargs)
        self.no_control = no_control

    def to_python(self, value: Any) -> str:
        value = _no_nul(str(super().to_python(value)))
        if self.no_control and any(unicodedata.category(ch) == "Cc" for ch in value):
            raise forms.ValidationError(HAS_CONTROL)
        return str(value)


class ZoneField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strip=False, **kwargs)  # a zone name is matched as sent

    def to_python(self, value: Any) -> ZoneInfo | None:  # type: ignore[override]
        value = super().to_python(value)
        if not value:
            return None
        try:
            return ZoneInfo(_no_nul(value))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long for a path
            raise forms.ValidationError(
                "unknown time zone %(value)s; use an IANA name such as Europe/Paris",
                params={"value": repr(value[:100])},
            ) from None


class DateBoundField(forms.CharField):
    """A date or an ISO datetime; returned as-is, resolved against `tz` by read_filters."""

    def to_python(self, value: Any) -> date | datetime | None:  # type: ignore[override]
        value = super().to_python(value)
        if not value:
            return None
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            # RFC 3339 allows a lower-case `t` and `z` as well.
            return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            raise forms.ValidationError(
                "must be a date YYYY-MM-DD or an ISO 8601 datetime such as 2025-01-01T12:00:00Z"
            ) from None


def _tag(value: str) -> tuple[str, str]:
    """`key:value`, split at the first ':'; the value is matched exactly (it may be empty)."""
    key, sep, tag_value = _no_nul(value).partition(":")
    if not sep or not key:
        raise forms.ValidationError("must be key:value, for example feature:chatbot")
    if len(key) > TAG_KEY_MAX or len(tag_value) > TAG_VALUE_MAX:
        raise forms.ValidationError(
            f"tag keys have at most {TAG_KEY_MAX} characters and values at most {TAG_VALUE_MAX}"
        )
    return key, tag_value


class MultipleTagField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[tuple[str, str]]:
        values = value if isinstance(value, list) else ([value] if value else [])
        if len(values) > MAX_TAG_FILTERS:
            raise forms.ValidationError(f"at most {MAX_TAG_FILTERS} tag filters")
        return [_tag(v) for v in values]


class ExactCharFilter(django_filters.CharFilter):
    field_class = ExactCharField


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


@extend_schema_field(OpenApiTypes.STR)  # not a model field: described here
class ZoneFilter(django_filters.Filter):
    field_class = ZoneField


@extend_schema_field(OpenApiTypes.STR)  # not a model field: described here
class DateBoundFilter(django_filters.Filter):
    field_class = DateBoundField


@extend_schema_field(OpenApiTypes.STR)  # not a model field: described here
class TagFilter(django_filters.Filter):
    field_class = MultipleTagField


class AnalyticsFilterSet(django_filters.FilterSet):
    """The common filters (SPEC section 7)."""

    entity_type = ExactCharFilter(max_length=128)
    entity_id = ExactCharFilter(max_length=128)
    start_date = DateBoundFilter(help_text="Inclusive; date or datetime")
    end_date = DateBoundFilter(help_text="Inclusive; date or datetime")
    tz = ZoneFilter(help_text="IANA time zone for dates (default UTC)")
    model = ExactCharFilter(max_length=200)
    tag = TagFilter(help_text="key:value; repeat for several (all must match)")


class SessionFilterSet(AnalyticsFilterSet):
    class Meta:
        model = Session
        fields: list[str] = []

    min_cost = django_filters.NumberFilter(min_value=0, help_text="USD")
    min_turns = IntegerFilter(
        field_name="turn_count",
        min_value=0,
        help_text="A whole number",
    )


class EventFilterSet(AnalyticsFilterSet):
    class Meta:
        model = Event
        fields: list[str] = []

    session_id = ExactCharFilter(max_length=256, no_control=True)
    status = django_filters.ChoiceFilter(choices=[("success", "success"), ("error", "error")])
    provider = ExactCharFilter(max_length=64)


FILTER_SETS: dict[str, type[AnalyticsFilterSet]] = {
    "sessions": SessionFilterSet,
    "events": EventFilterSet,
}


@dataclass(frozen=True)
class ReadFilters:
    """Parsed filters. `start` is inclusive and `end` exclusive, both aware UTC; `zone` is the
    time zone that dates (and per-day groupings) are read in."""

    kind: Kind
    entity_type: str | None = None
    entity_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    zone: tzinfo = UTC
    model: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    # sessions only
    min_cost_nanos: int | None = None
    min_turns: int | None = None
    # events only
    session_id: str | None = None
    status: str | None = None
    provider: str | None = None

    def fingerprint(self) -> str:
        """A digest of the question asked, for binding cursors to it."""
        values = asdict(self)
        values["zone"] = str(self.zone)
        values["tags"] = sorted(self.tags)
        canonical = json.dumps(values, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


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


def _as_query_dict(params: Mapping[str, Any] | QueryDict, allow_blank: bool) -> MultiValueDict:
    data: MultiValueDict = MultiValueDict()
    for name in params:
        if isinstance(params, MultiValueDict):
            values = params.getlist(name)
        else:
            raw = params[name]
            values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        values = [str(v) for v in values]
        if allow_blank:
            values = [v for v in values if v.strip()]
        if values:
            data.setlist(name, values)
    return data


def blank_parameters(params: Mapping[str, Any] | QueryDict) -> dict[str, list[str]]:
    """{name: [reason]} for every parameter sent with an empty or whitespace-only value."""
    data = _as_query_dict(params, allow_blank=False)
    return {name: [EMPTY] for name in data if any(not v.strip() for v in data.getlist(name))}


@functools.cache
def _form_class(kind: Kind) -> type[forms.Form]:
    # Built once: a filter set deep-copies its filters on every instantiation.
    return FILTER_SETS[kind]().get_form_class()


def read_filters(
    params: Mapping[str, Any] | QueryDict, *, kind: Kind, allow_blank: bool = False
) -> ReadFilters:
    """Parse and validate the filters of `kind` ("sessions" or "events") from a query string.

    Raises rest_framework's ValidationError {param: [reason]} for a bad value. Keys that are
    not filters are ignored (the API rejects unknown parameters itself).
    """
    filterset_class = FILTER_SETS[kind]
    names = set(filterset_class.base_filters)
    data = _as_query_dict({k: v for k, v in _items(params) if k in names}, allow_blank)
    blank = blank_parameters(data)
    if blank:
        raise ValidationError(blank)
    form = _form_class(kind)(data)
    if not form.is_valid():
        raise ValidationError(
            {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        )
    cleaned = form.cleaned_data
    zone = cleaned.get("tz") or UTC
    bounds: dict[str, datetime | None] = {}
    for name, is_end in (("start_date", False), ("end_date", True)):
        value = cleaned.get(name)
        try:
            bounds[name] = _to_aware(value, zone, end=is_end) if value else None
        except OverflowError:
            raise ValidationError({name: ["is outside the range of supported dates"]}) from None
    start, end = bounds["start_date"], bounds["end_date"]
    if start and end and start >= end:
        raise ValidationError({"end_date": ["must not be before start_date"]})
    min_cost: Decimal | None = cleaned.get("min_cost")
    return ReadFilters(
        kind=kind,
        entity_type=cleaned.get("entity_type") or None,
        entity_id=cleaned.get("entity_id") or None,
        start=start,
        end=end,
        zone=zone,
        model=cleaned.get("model") or None,
        tags=tuple(cleaned.get("tag") or ()),
        min_cost_nanos=(
            usd_to_nanos_ceil(min(min_cost, MAX_MIN_COST)) if min_cost is not None else None
        ),
        min_turns=cleaned.get("min_turns"),
        session_id=cleaned.get("session_id") or None,
        status=cleaned.get("status") or None,
        provider=cleaned.get("provider") or None,
    )


def session_ordering(params: Mapping[str, Any] | QueryDict) -> str:
    """The `order_by` of a session list (a SESSION_ORDERINGS name), default -last_seen."""
    order_by = params.get("order_by") or DEFAULT_SESSION_ORDERING
    if order_by not in SESSION_ORDERINGS:
        names = ", ".join(k for k in SESSION_ORDERINGS if not k.startswith("-"))
        reason = f"must be one of {names}, each optionally prefixed with '-'"
        raise ValidationError({"order_by": [reason]})
    return str(order_by)


def path_session_id(value: str) -> str:
    """A session id from a URL path; control characters (ingestion refuses them) are a 400."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValidationError({"session_id": [HAS_CONTROL]})
    return value


def _items(params: Mapping[str, Any] | QueryDict) -> list[tuple[str, Any]]:
    if isinstance(params, MultiValueDict):
        return [(k, params.getlist(k)) for k in params]
    return list(params.items())
