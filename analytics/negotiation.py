"""DRF's content negotiation with its `?format=` override, for the Analytics API.

The override is off project-wide (URL_FORMAT_OVERRIDE: None, so ingestion ignores `format`);
the analytics views turn it on here: `?format=csv` selects the CSV renderer where a view has
one. DRF negotiates before it authenticates; a format the view cannot render is remembered and
answered after authentication, as a 400 naming `format` (or a 406 for an Accept header), so an
anonymous request still gets its 401 first.
"""

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from django.http import Http404
from rest_framework.exceptions import NotAcceptable, NotFound, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

FORMAT_PARAM = "format"


class FormatNegotiation(DefaultContentNegotiation):
    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=FORMAT_PARAM)  # type: ignore[assignment]

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (Http404, NotFound, NotAcceptable) as exc:
            request._deferred_negotiation_error = exc  # type: ignore[attr-defined]
            return renderers[0], renderers[0].media_type or "application/json"

    @staticmethod
    def raise_deferred(request: Request, view: Any) -> None:
        exc = getattr(request, "_deferred_negotiation_error", None)
        if exc is None:
            return
        if isinstance(exc, (Http404, NotFound)):  # ?format= names no renderer of this view
            formats = " or ".join(r.format for r in view.get_renderers())
            raise ValidationError({FORMAT_PARAM: [f"must be {formats}"]})
        raise exc
