"""The baseline for batch ingestion: what a first DRF implementation would look like.

`ModelSerializer(many=True)` validates each item with DRF fields, then `save()` creates the
events one `INSERT` at a time (plus one pending-rollup row each, so the stored result is the
same as the product's). It prices with the same PriceBook and schedules the same rollup. It
does less than the product in one respect: no duplicate detection (a repeated event_id would
be an IntegrityError), which only flatters it. Mounted by bench/bench_urls.py only.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from infraprism.permissions import HasIngestScope
from ingestion.models import Event
from ingestion.pricing import PriceBook
from sessions.models import PendingRollup
from sessions.scheduling import rollup_schedule_on_commit

NANOS = Decimal(1_000_000_000)
PENDING_FIELDS = [f.attname for f in PendingRollup._meta.concrete_fields if f.attname != "id"]


class NaiveEventSerializer(serializers.ModelSerializer):
    cost = serializers.DecimalField(
        max_digits=20, decimal_places=9, min_value=Decimal(0), required=False, write_only=True
    )

    class Meta:
        model = Event
        fields = [
            "event_id",
            "timestamp",
            "model",
            "provider",
            "entity_type",
            "entity_id",
            "session_id",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cost",
            "latency_ms",
            "status",
            "tags",
        ]

    def create(self, validated_data: dict[str, Any]) -> Event:
        cost = validated_data.pop("cost", None)
        if cost is not None:
            validated_data["cost_nanos"] = int(cost * NANOS)
            validated_data["cost_source"] = Event.CostSource.CLIENT
        else:
            book: PriceBook = self.context["price_book"]
            price = book.lookup(validated_data["model"], validated_data["timestamp"].date())
            if price is None:
                validated_data["cost_nanos"] = 0
                validated_data["cost_source"] = Event.CostSource.UNPRICED
            else:
                validated_data["cost_nanos"] = price.cost_nanos(
                    validated_data.get("input_tokens", 0),
                    validated_data.get("output_tokens", 0),
                    validated_data.get("cached_input_tokens", 0),
                )
                validated_data["cost_source"] = Event.CostSource.COMPUTED
        event = Event.objects.create(**validated_data)
        if event.session_id is not None:
            # The pending row carries the event's rolled-up columns (whatever PendingRollup
            # declares), as the product's insert writes it.
            values = {name: getattr(event, name) for name in PENDING_FIELDS if hasattr(event, name)}
            values.update(event_pk=event.pk, is_error=event.status == "error")
            values["tags"] = event.tags or None
            PendingRollup.objects.create(**values)
        return event


class NaiveBatchView(APIView):
    permission_classes = [HasIngestScope]
    throttle_classes: list[Any] = []

    def post(self, request: Request) -> Response:
        organization_id = request.auth.organization_id  # type: ignore[union-attr]
        items = request.data.get("events") if isinstance(request.data, dict) else None
        serializer = NaiveEventSerializer(
            data=items,
            many=True,
            context={"price_book": PriceBook.for_organization(organization_id)},
        )
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            serializer.save(organization_id=organization_id, received_at=datetime.now(UTC))
            rollup_schedule_on_commit(organization_id=organization_id)
        return Response({"accepted": len(items or [])}, status=status.HTTP_202_ACCEPTED)
