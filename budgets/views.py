"""The manage API (scope `manage`): budgets, their status, alerts, webhook endpoints and their
delivery logs. Views parse, call one service or selector, and render."""

from typing import Any

from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.pagination import CursorCodec, KeysetPagination, Ordering
from budgets import openapi, selectors, services
from budgets.deliveries import delivery_create_test
from budgets.models import Alert, Budget, WebhookDelivery, WebhookEndpoint
from budgets.params import MAX_ID, choice, parse_bool, parse_id, parse_time, read_params
from budgets.parsers import DecimalJSONParser
from budgets.serializers import BudgetIn, WebhookIn, endpoint_item
from infraprism.permissions import HasManageScope
from infraprism.viewsets import TenantViewSet

BY_ID = Ordering(name="id", field="id", key="id", descending=False)
NEWEST_FIRST = Ordering(name="-created_at", field="created_at", key="id", descending=True)
BUDGET_FILTERS = {
    "scope": choice(*Budget.Scope.values),
    "period": choice(*Budget.Period.values),
    "enabled": parse_bool,
}


class ManageViewSet(TenantViewSet):
    permission_classes = [HasManageScope]
    parser_classes = [DecimalJSONParser]
    pagination_class = KeysetPagination
    ordering = BY_ID
    filters: dict[str, Any]

    def object_or_404(self, pk: int) -> Any:
        if not 1 <= pk <= MAX_ID:
            raise Http404
        found = self.get_queryset().filter(pk=pk).first()
        if found is None:
            raise Http404
        return found

    def cursor_codec(self) -> CursorCodec:
        binding = "|".join(f"{k}={v}" for k, v in sorted(self.filters.items()))
        return CursorCodec(
            organization=self.organization,
            endpoint=f"{type(self).__name__}:{self.action}:{self.kwargs.get('pk', '')}",
            binding=f"{binding}|{self.ordering.name}",
        )

    def page_of(self, queryset: QuerySet[Any], item: Any) -> Response:
        """Keyset page over (ordering field, id), then the rows themselves in page order."""
        fields = {self.ordering.field, self.ordering.key}
        keys = self.paginate_queryset(queryset.values(*fields)) or []
        ids = [row["id"] for row in keys]
        found = {obj.pk: obj for obj in queryset.filter(pk__in=ids)}
        return self.get_paginated_response([item(found[i]) for i in ids])

    def created(self, data: Any) -> Response:
        return Response({"data": data}, status=status.HTTP_201_CREATED)


class BudgetViewSet(ManageViewSet):
    base_queryset = Budget.objects.all()

    @openapi.budgets_list
    def list(self, request: Request) -> Response:
        self.filters = read_params(request.query_params, BUDGET_FILTERS)
        return self.page_of(self.get_queryset().filter(**self.filters), selectors.budget_item)

    @openapi.budgets_create
    def create(self, request: Request) -> Response:
        self.filters = read_params(request.query_params, {})
        serializer = BudgetIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        budget = services.budget_create(organization=self.organization, **serializer.validated_data)
        return self.created(selectors.budget_item(budget))

    @openapi.budgets_retrieve
    def retrieve(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        return Response({"data": selectors.budget_item(self.object_or_404(pk))})

    @openapi.budgets_update
    def partial_update(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        budget = self.object_or_404(pk)
        serializer = BudgetIn(budget, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        budget = services.budget_update(budget=budget, **serializer.validated_data)
        return Response({"data": selectors.budget_item(budget)})

    @openapi.budgets_destroy
    def destroy(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        self.object_or_404(pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @openapi.budgets_status
    def status(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {"entity_id": str})
        budget = self.object_or_404(pk)
        data = selectors.budget_status(
            budget,
            time_zone=self.organization.time_zone,
            entity_id=self.filters.get("entity_id"),
        )
        return Response({"data": data})

    @openapi.budgets_statuses
    def statuses(self, request: Request) -> Response:
        self.filters = read_params(request.query_params, BUDGET_FILTERS)
        zone = self.organization.time_zone
        return self.page_of(
            self.get_queryset().filter(**self.filters),
            lambda budget: selectors.budget_status(budget, time_zone=zone),
        )


class AlertViewSet(ManageViewSet):
    base_queryset = Alert.objects.select_related("budget")
    ordering = NEWEST_FIRST

    @openapi.alerts_list
    def list(self, request: Request) -> Response:
        self.filters = read_params(
            request.query_params,
            {
                "budget_id": parse_id,
                "type": choice(*Alert.Type.values),
                "start": parse_time,
                "end": parse_time,
            },
        )
        alerts = self.get_queryset()
        lookups = {"budget_id": "budget_id", "type": "type"}
        lookups.update(start="created_at__gte", end="created_at__lt")
        alerts = alerts.filter(**{lookups[k]: v for k, v in self.filters.items()})
        return self.page_of(alerts, selectors.alert_item)


class WebhookViewSet(ManageViewSet):
    base_queryset = WebhookEndpoint.objects.all()

    @openapi.webhooks_list
    def list(self, request: Request) -> Response:
        self.filters = read_params(request.query_params, {})
        return self.page_of(self.get_queryset(), endpoint_item)

    @openapi.webhooks_create
    def create(self, request: Request) -> Response:
        self.filters = read_params(request.query_params, {})
        serializer = WebhookIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            organization=self.organization, **serializer.validated_data
        )
        return self.created(endpoint_item(endpoint, secret=True))

    @openapi.webhooks_retrieve
    def retrieve(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        return Response({"data": endpoint_item(self.object_or_404(pk))})

    @openapi.webhooks_update
    def partial_update(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        endpoint = self.object_or_404(pk)
        serializer = WebhookIn(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response({"data": endpoint_item(endpoint)})

    @openapi.webhooks_destroy
    def destroy(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        self.object_or_404(pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @openapi.webhooks_rotate
    def rotate_secret(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        endpoint = services.endpoint_rotate_secret(endpoint=self.object_or_404(pk))
        return Response({"data": endpoint_item(endpoint, secret=True)})

    @openapi.webhooks_test
    def send_test(self, request: Request, pk: int) -> Response:
        self.filters = read_params(request.query_params, {})
        delivery = delivery_create_test(endpoint=self.object_or_404(pk))
        delivery.refresh_from_db()
        return Response({"data": selectors.delivery_item(delivery)}, status=202)

    @openapi.webhooks_deliveries
    def deliveries(self, request: Request, pk: int) -> Response:
        self.filters = read_params(
            request.query_params, {"status": choice(*WebhookDelivery.Status.values)}
        )
        endpoint: Model = self.object_or_404(pk)
        self.ordering = NEWEST_FIRST
        rows = WebhookDelivery.objects.filter(
            organization_id=self.organization.pk, endpoint_id=endpoint.pk, **self.filters
        )
        return self.page_of(rows, selectors.delivery_item)
