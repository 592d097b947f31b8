"""Cursor pagination: one signed cursor codec, one keyset paginator.

A cursor is Django-signed (the secret key, salt below) JSON of a *scope* digest and a *position*.
The scope digest binds the cursor to the organization, the endpoint, the ordering and the
filters it was issued for: reused anywhere else it is a 400. Positions hold only tenant-local
values (sort value and the row's session_id / event_id, a timeline step, an offset into the
cost groups), never a global row id. The payload is signed, not encrypted; nothing in it is
beyond what the caller can already read.

Keyset pages: the next page is the rows strictly after the last row served in the ordering
(sort value, then a key unique within the organization), so each page is one index range scan
however deep it is, and two rows that tie on the sort value are ordered the same way on every
engine.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from infraprism.models import Organization

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_SALT = "infraprism.analytics.cursor"
NOT_OURS = "is not a cursor this API issued"
OTHER_QUERY = (
    "was issued for another query: use it only with the endpoint, filters and order_by it came from"
)


@dataclass(frozen=True)
class Ordering:
    """ORDER BY `field`, then `key` (unique within an organization), both in one direction."""

    name: str  # the public name, e.g. "-last_seen"
    field: str  # model field, never null
    key: str  # model field unique per organization: session_id, event_id
    descending: bool

    def order_by(self) -> list[str]:
        prefix = "-" if self.descending else ""
        if self.field == self.key:
            return [f"{prefix}{self.key}"]
        return [f"{prefix}{self.field}", f"{prefix}{self.key}"]

    def after(self, value: Any, key: Any) -> Q:
        """Rows strictly after (value, key) in this ordering.

        The redundant `field <=/>= value` term lets the planner start the index scan at the
        cursor instead of filtering its way there.
        """
        op, eq = ("lt", "lte") if self.descending else ("gt", "gte")
        if self.field == self.key:
            return Q(**{f"{self.key}__{op}": key})
        return Q(**{f"{self.field}__{eq}": value}) & (
            Q(**{f"{self.field}__{op}": value}) | Q(**{self.field: value, f"{self.key}__{op}": key})
        )


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if raw is None:
        return default
    reason = f"must be an integer from 1 to {maximum}"
    if not raw.isascii() or not raw.isdigit():
        raise ValidationError({"limit": [reason]})
    limit = int(raw)
    if not 1 <= limit <= maximum:
        raise ValidationError({"limit": [reason]})
    return limit


class CursorCodec:
    """Signs positions for one scope (organization, endpoint, ordering, filters)."""

    def __init__(self, *, organization: Organization, endpoint: str, binding: str = "") -> None:
        scope = f"{organization.pk}\x1f{endpoint}\x1f{binding}"
        self.scope = hashlib.sha256(scope.encode()).hexdigest()[:24]

    def encode(self, position: Mapping[str, Any]) -> str:
        return signing.dumps({"s": self.scope, "p": dict(position)}, salt=_SALT, compress=True)

    def decode(self, raw: str) -> dict[str, Any]:
        """The position; a 400 naming `cursor` for anything this scope did not issue."""
        try:
            payload = signing.loads(raw, salt=_SALT)
        except (signing.BadSignature, ValueError, UnicodeError):
            raise ValidationError({"cursor": [NOT_OURS]}) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("p"), dict):
            raise ValidationError({"cursor": [NOT_OURS]})
        if payload.get("s") != self.scope:
            raise ValidationError({"cursor": [OTHER_QUERY]})
        position: dict[str, Any] = payload["p"]
        return position


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _model_value(model: type[Model], field: str, raw: Any) -> Any:
    try:
        value = model._meta.get_field(field).to_python(raw)  # type: ignore[union-attr]
    except (DjangoValidationError, TypeError, ValueError, OverflowError):
        raise ValidationError({"cursor": [NOT_OURS]}) from None
    if value is None:
        raise ValidationError({"cursor": [NOT_OURS]})
    return value


def read_position(codec: CursorCodec, cursor: str | None, *, name: str, low: int, high: int) -> int:
    """The whole-number position `name` held by a cursor (0 without one), within [low, high].

    Cursors are signed, so this never sees a forged value; the bounds keep a cursor from an
    older release, or a key that leaked, from asking for what the database cannot answer.
    """
    if cursor is None:
        return 0
    value = codec.decode(cursor).get(name)
    if type(value) is not int or not low <= value <= high:
        raise ValidationError({"cursor": [OTHER_QUERY]})
    return value


@dataclass
class Page:
    rows: list[Any]
    limit: int
    has_more: bool
    next_cursor: str | None

    def pagination(self) -> dict[str, Any]:
        return {"limit": self.limit, "has_more": self.has_more, "next_cursor": self.next_cursor}


def keyset_page(
    queryset: QuerySet[Any],
    *,
    ordering: Ordering,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page:
    """One page of `queryset` (dict rows from .values(), which must include the ordering's
    field and key) after `cursor`."""
    if cursor is not None:
        position = codec.decode(cursor)
        if set(position) != {"v", "k"}:
            raise ValidationError({"cursor": [OTHER_QUERY]})
        value = _model_value(queryset.model, ordering.field, position["v"])
        key = _model_value(queryset.model, ordering.key, position["k"])
        queryset = queryset.filter(ordering.after(value, key))
    rows = list(queryset.order_by(*ordering.order_by())[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more:
        last = rows[-1]
        next_cursor = codec.encode(
            {"v": _json_value(last[ordering.field]), "k": _json_value(last[ordering.key])}
        )
    return Page(rows=rows, limit=limit, has_more=has_more, next_cursor=next_cursor)


class KeysetPagination(BasePagination):
    """DRF pagination for every keyset-paged endpoint.

    The view supplies `cursor_codec()` (its scope) and `ordering` (an Ordering); `limit` and
    `cursor` come from the query string. `page_size_default` may be set per view.
    """

    page: Page

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        limit = parse_limit(
            request.query_params.get("limit"), default=getattr(view, "page_size", DEFAULT_LIMIT)
        )
        self.page = keyset_page(
            queryset,
            ordering=view.ordering,
            codec=view.cursor_codec(),
            cursor=request.query_params.get("cursor"),
            limit=limit,
        )
        return self.page.rows

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"data": data, "pagination": self.page.pagination()})
