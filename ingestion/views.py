"""POST /v1/events and /v1/events/batch: the parser decodes, the ingest service validates."""

from typing import Any

from django.conf import settings
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
from ingestion.parsers import BatchParser, EventParser, empty_body_error
from ingestion.schema import BatchIn, EventIn
from ingestion.services import events_ingest


def _bad(detail: str, field: str) -> Response:
    return Response(error_body("invalid_request", detail, {field: [detail]}), status=400)


def _body(request: Request) -> Any:
    """The parsed body (see ingestion/parsers.py); an empty body is a 400 naming `body`."""
    if request.stream is None:  # DRF's marker for a body of zero bytes
        raise empty_body_error()
    return request.data


class EventViewSet(TenantViewSet):
    permission_classes = [HasIngestScope]
    throttle_classes = [IngestRateThrottle]
    parser_classes = [EventParser]

    @extend_schema(
        operation_id="events_create",
        request={"application/json": openapi.EventRequest},
        responses={
            202: openapi.SingleAccepted,
            400: OpenApiResponse(openapi.ErrorBody, description="Invalid event"),
            **openapi.INGEST_ERRORS,
        },
        description=openapi.BODY_ENCODING,
        tags=["ingestion"],
    )
    def create(self, request: Request) -> Response:
        item = _body(request)
        if not isinstance(item, (dict, EventIn)):
            return _bad("Request body must be a JSON object (one event).", "body")
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
        request={"application/json": openapi.BatchRequest},
        responses={
            202: openapi.BatchResult,
            207: OpenApiResponse(openapi.BatchResult, description="Some events were rejected"),
            400: OpenApiResponse(
                openapi.BatchBadRequest,
                description="A malformed batch, or every event rejected (nothing stored)",
            ),
            **openapi.INGEST_ERRORS,
        },
        description=openapi.BODY_ENCODING,
        tags=["ingestion"],
    )
    @action(detail=False, methods=["post"], url_path="batch", parser_classes=[BatchParser])
    def batch(self, request: Request) -> Response:
        body = _body(request)
        if isinstance(body, BatchIn):
            body = {"events": body.events}
        if not isinstance(body, dict):
            return _bad('Request body must be a JSON object: {"events": [...]}.', "body")
        if unknown := sorted(set(body) - {"events"}):
            return _bad("unknown field; only 'events' is allowed", unknown[0])
        items = body.get("events")
        if not isinstance(items, list):
            return _bad("must be a list of event objects", "events")
        if len(items) > settings.MAX_BATCH_EVENTS:
            return _bad(
                f"must hold at most {settings.MAX_BATCH_EVENTS} events; got {len(items)}",
                "events",
            )
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
