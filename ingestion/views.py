"""POST /v1/events and /v1/events/batch: parse once, hand the items to the ingest service."""

from typing import Any

import msgspec
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from infraprism.errors import error_body
from infraprism.permissions import HasIngestScope
from infraprism.ratelimit import IngestRateThrottle
from infraprism.viewsets import TenantViewSet
from ingestion import openapi
from ingestion.schema import BatchIn, EventIn, batch_decoder, event_decoder, json_decoder
from ingestion.services import events_ingest


class BadBody(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _bad(detail: str, field: str | None = None, code: int = 400) -> BadBody:
    errors = {field: [detail]} if field else None
    return BadBody(Response(error_body("invalid_request", detail, errors), status=code))


def _decode(request: Request, fast: msgspec.json.Decoder | None = None) -> Any:
    """The body as Python objects; with `fast`, as already-validated structs when it can."""
    try:
        raw = request._request.body
    except RequestDataTooBig:
        limit_mb = settings.MAX_BODY_BYTES / (1024 * 1024)
        raise BadBody(
            Response(
                error_body("payload_too_large", f"Request body exceeds the {limit_mb:g} MB limit."),
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        ) from None
    if not raw:
        raise _bad("Request body is empty; send a JSON object.", "body")
    if fast is not None:
        try:
            return fast.decode(raw)
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
            pass  # the slow path below says what is wrong, field by field
    try:
        return json_decoder.decode(raw)
    except msgspec.ValidationError as exc:  # while decoding: an integer of thousands of digits
        reason = str(exc).split(" - at ")[0]
        raise _bad(f"Request body holds a value that cannot be read ({reason}).", "body") from None
    except msgspec.DecodeError as exc:
        raise _bad(f"Request body is not valid JSON ({exc}).", "body") from None
    except UnicodeDecodeError:
        raise _bad("Request body is not valid UTF-8.", "body") from None
    except RecursionError:
        raise _bad("Request body is nested too deeply.", "body") from None


class EventViewSet(TenantViewSet):
    permission_classes = [HasIngestScope]
    throttle_classes = [IngestRateThrottle]

    @extend_schema(
        operation_id="events_create",
        request=openapi.EventRequest,
        responses={
            202: openapi.SingleAccepted,
            400: OpenApiResponse(openapi.ErrorBody, description="Invalid event"),
            **openapi.COMMON_ERRORS,
        },
        tags=["ingestion"],
    )
    def create(self, request: Request) -> Response:
        try:
            item = _decode(request, event_decoder)
        except BadBody as bad:
            return bad.response
        if not isinstance(item, (dict, EventIn)):
            return _bad("Request body must be a JSON object (one event).", "body").response
        result = events_ingest(organization_id=self.organization.pk, items=[item])
        if result.errors:
            errors = result.errors[0]["errors"]
            field, reasons = next(iter(errors.items()))
            return Response(
                error_body("invalid_event", f"{field}: {reasons[0]}", errors), status=400
            )
        event_id = result.valid[0].event_id
        return Response(
            {"event_id": event_id, "duplicate": event_id not in result.new_event_ids},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        operation_id="events_batch_create",
        request=openapi.BatchRequest,
        responses={
            202: openapi.BatchResult,
            207: OpenApiResponse(openapi.BatchResult, description="Some events were rejected"),
            400: OpenApiResponse(
                openapi.BatchBadRequest,
                description="A malformed batch, or every event rejected (nothing stored)",
            ),
            **openapi.COMMON_ERRORS,
        },
        tags=["ingestion"],
    )
    @action(detail=False, methods=["post"], url_path="batch")
    def batch(self, request: Request) -> Response:
        try:
            body = _decode(request, batch_decoder)
        except BadBody as bad:
            return bad.response
        if isinstance(body, BatchIn):
            body = {"events": body.events}
        if not isinstance(body, dict):
            return _bad('Request body must be a JSON object: {"events": [...]}.', "body").response
        if unknown := sorted(set(body) - {"events"}):
            return _bad("unknown field; only 'events' is allowed", unknown[0]).response
        items = body.get("events")
        if not isinstance(items, list):
            return _bad("must be a list of event objects", "events").response
        if len(items) > settings.MAX_BATCH_EVENTS:
            return _bad(
                f"must hold at most {settings.MAX_BATCH_EVENTS} events; got {len(items)}",
                "events",
            ).response
        result = events_ingest(organization_id=self.organization.pk, items=items)
        payload = {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "errors": result.errors,
        }
        if not result.errors:
            return Response(payload, status=status.HTTP_202_ACCEPTED)
        if result.accepted:
            return Response(payload, status=status.HTTP_207_MULTI_STATUS)
        detail = f"All {result.rejected} events were rejected; nothing was stored."
        return Response({**error_body("invalid_events", detail), **payload}, status=400)
