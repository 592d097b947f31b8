"""Template filters for the dashboard: money, durations, session URLs."""

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django import template
from django.utils.html import format_html

from dashboard.money_format import usd_display, usd_exact
from infraprism.money import nanos_to_usd

register = template.Library()


@register.filter
def usd(value: Decimal | int | float | str | None) -> str:
    """`$0.0123` with the exact amount on hover (and in data-usd for tests and scripts)."""
    if value is None:
        return ""
    exact = usd_exact(value)
    return format_html(
        '<span class="money" title="{}" data-usd="{}">{}</span>',
        exact,
        exact[1:],
        usd_display(value),
    )


@register.filter
def duration(seconds: float | int | None) -> str:
    """`4.2 s`, `3 min 05 s`, `2 h 07 min`, `3 d 4 h`."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds % 1 else f"{int(seconds)} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def iso_utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.isoformat().replace("+00:00", "Z")


@register.filter
def thousands(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@register.simple_tag
def session_url(slug: str, session_id: str) -> str:
    """Path of a session's page. Every character of the id is percent-encoded ('/' too), so
    any id ingestion accepts round-trips. Browsers collapse the path segments `.` and `..`
    (encoded or not), so those two ids go through the query-string form instead."""
    if session_id in (".", ".."):
        return f"/o/{quote(slug, safe='')}/session/?id={quote(session_id, safe='')}"
    return f"/o/{quote(slug, safe='')}/sessions/{quote(session_id, safe='')}/"


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.filter
def nanos_usd(nanos: int | None) -> str:
    return usd(nanos_to_usd(nanos))


@register.filter
def session_duration(row: dict[str, Any]) -> float:
    return float((row["last_seen"] - row["first_seen"]).total_seconds())
