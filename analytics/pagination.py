"""Opaque keyset (cursor) pagination: never OFFSET, stable under inserts.

A cursor is URL-safe base64 of JSON: the ordering it belongs to and the sort value and id of
the last row served. The next page is the rows strictly after that (value, id) pair in the
ordering, so each page is one index range scan however deep it is.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Ordering:
    field: str  # model field, never null
    descending: bool
    is_datetime: bool = False

    @property
    def name(self) -> str:
        return ("-" if self.descending else "") + self.field

    def order_by(self) -> list[str]:
        prefix = "-" if self.descending else ""
        return [f"{prefix}{self.field}", f"{prefix}id"]

    def after(self, value: Any, row_id: int) -> Q:
        """Rows strictly after (value, row_id) in this ordering.

        The redundant `field <=/>= value` term lets the planner start the index scan at the
        cursor instead of filtering its way there.
        """
        op, eq = ("lt", "lte") if self.descending else ("gt", "gte")
        return Q(**{f"{self.field}__{eq}": value}) & (
            Q(**{f"{self.field}__{op}": value}) | Q(**{self.field: value, f"id__{op}": row_id})
        )


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationError({"limit": [f"must be an integer from 1 to {maximum}"]}) from None
    if not 1 <= limit <= maximum:
        raise ValidationError({"limit": [f"must be an integer from 1 to {maximum}"]})
    return limit


def encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode_cursor(raw: str) -> dict[str, Any]:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError, UnicodeEncodeError):
        raise ValidationError({"cursor": ["is not a cursor this API issued"]}) from None
    if not isinstance(payload, dict):
        raise ValidationError({"cursor": ["is not a cursor this API issued"]})
    return payload


@dataclass
class Page:
    rows: list[Any]
    limit: int
    has_more: bool
    next_cursor: str | None

    def pagination(self) -> dict[str, Any]:
        return {"limit": self.limit, "has_more": self.has_more, "next_cursor": self.next_cursor}


def keyset_page(
    queryset: QuerySet[Any], ordering: Ordering, cursor: str | None, limit: int
) -> Page:
    """One page of `queryset` (rows are dicts from .values() or model instances)."""
    if cursor:
        payload = decode_cursor(cursor)
        if payload.get("o") != ordering.name or "v" not in payload or "id" not in payload:
            raise ValidationError({"cursor": ["does not belong to this ordering or query"]})
        value = payload["v"]
        if ordering.is_datetime:
            try:
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    raise ValueError("naive")
                value = value.astimezone(UTC)  # PostgreSQL rejects offsets Python allows
            except (TypeError, ValueError, OverflowError):
                raise ValidationError({"cursor": ["is not a cursor this API issued"]}) from None
        elif not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError({"cursor": ["is not a cursor this API issued"]})
        if not isinstance(payload["id"], int):
            raise ValidationError({"cursor": ["is not a cursor this API issued"]})
        queryset = queryset.filter(ordering.after(value, payload["id"]))
    rows = list(queryset.order_by(*ordering.order_by())[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more:
        last = rows[-1]
        get = last.get if isinstance(last, dict) else lambda name: getattr(last, name)
        value = get(ordering.field)
        next_cursor = encode_cursor(
            {
                "o": ordering.name,
                "v": value.isoformat() if isinstance(value, datetime) else value,
                "id": get("id"),
            }
        )
    return Page(rows=rows, limit=limit, has_more=has_more, next_cursor=next_cursor)
