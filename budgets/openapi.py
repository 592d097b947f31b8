"""OpenAPI descriptions of the manage API (scope `manage`)."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from analytics.openapi import envelope, page_of
from budgets.params import MAX_ID
from budgets.serializers import (
    AlertOut,
    BudgetIn,
    BudgetOut,
    DeliveryOut,
    StatusOut,
    WebhookIn,
    WebhookOut,
    WebhookWithSecretOut,
)
from infraprism.openapi import ErrorBody


def _q(name: str, description: str, **kwargs: Any) -> OpenApiParameter:
    return OpenApiParameter(
        name, kwargs.pop("type", OpenApiTypes.STR), OpenApiParameter.QUERY,
        description=description, **kwargs,
    )  # fmt: skip


# Query values as the server checks them (budgets/params.py): no blank values, bounded ids.
NOT_BLANK = {"type": "string", "minLength": 1, "pattern": r"\S"}
PAGE_PARAMETERS = [
    _q(
        "limit",
        "Page size, 1-1000 (default 50)",
        type={"type": "integer", "minimum": 1, "maximum": 1000},
    ),
    _q("cursor", "Opaque cursor from pagination.next_cursor", type=NOT_BLANK),
]
ERRORS = {
    400: OpenApiResponse(ErrorBody, description="A bad field or query parameter, named in errors"),
    401: OpenApiResponse(
        ErrorBody, description="Missing, malformed, unknown, revoked or expired key"
    ),
    403: OpenApiResponse(ErrorBody, description="The key lacks the manage scope"),
    429: OpenApiResponse(ErrorBody, description="Rate limit exceeded; see Retry-After"),
}
ERRORS_404 = {**ERRORS, 404: OpenApiResponse(ErrorBody, description="Not in your organization")}
NO_CONTENT = {204: OpenApiResponse(description="Deleted"), **ERRORS_404}

BOOL = {"enum": ["true", "false"]}
SCOPES = ["organization", "entity", "entity_type", "tag", "model"]
PERIODS = ["day", "week", "month", "rolling"]
BUDGET_FILTERS = [
    _q("scope", "Only budgets of this scope", enum=SCOPES),
    _q("period", "Only budgets of this period", enum=PERIODS),
    _q("enabled", "true or false", enum=["true", "false"]),
]
ID_PATTERN = r"^[0-9]{1,18}$"

BudgetData = envelope("BudgetData", {"data": BudgetOut()})
StatusData = envelope("StatusData", {"data": StatusOut()})
WebhookData = envelope("WebhookData", {"data": WebhookOut()})
WebhookSecretData = envelope("WebhookSecretData", {"data": WebhookWithSecretOut()})
DeliveryData = envelope("DeliveryData", {"data": DeliveryOut()})

budgets_list = extend_schema(
    operation_id="budgets_list",
    parameters=[*PAGE_PARAMETERS, *BUDGET_FILTERS],
    responses={200: page_of("BudgetPage", BudgetOut), **ERRORS},
    tags=["budgets"],
)
budgets_create = extend_schema(
    operation_id="budgets_create",
    request=BudgetIn,
    responses={201: BudgetData, **ERRORS},
    tags=["budgets"],
)
budgets_retrieve = extend_schema(
    operation_id="budgets_retrieve", responses={200: BudgetData, **ERRORS_404}, tags=["budgets"]
)
budgets_update = extend_schema(
    operation_id="budgets_update",
    request=BudgetIn(partial=True),
    responses={200: BudgetData, **ERRORS_404},
    tags=["budgets"],
)
budgets_destroy = extend_schema(
    operation_id="budgets_destroy", responses=NO_CONTENT, tags=["budgets"]
)
budgets_status = extend_schema(
    operation_id="budgets_status",
    parameters=[
        _q(
            "entity_id",
            "entity_type rules: this entity (default: the top spender)",
            type={**NOT_BLANK, "maxLength": 128},
        )
    ],
    responses={200: StatusData, **ERRORS_404},
    tags=["budgets"],
)
budgets_statuses = extend_schema(
    operation_id="budgets_statuses",
    parameters=[*PAGE_PARAMETERS, *BUDGET_FILTERS],
    responses={200: page_of("StatusPage", StatusOut), **ERRORS},
    tags=["budgets"],
)
alerts_list = extend_schema(
    operation_id="alerts_list",
    parameters=[
        *PAGE_PARAMETERS,
        _q(
            "budget_id",
            "Only this budget's alerts",
            type={"type": "integer", "minimum": 1, "maximum": MAX_ID},
        ),
        _q("type", "Only this type", enum=["budget.threshold_crossed", "budget.recovered"]),
        _q(
            "start",
            "Alerts at or after this time (ISO 8601 with offset)",
            type=OpenApiTypes.DATETIME,
        ),
        _q("end", "Alerts before this time (ISO 8601 with offset)", type=OpenApiTypes.DATETIME),
    ],
    responses={200: page_of("AlertPage", AlertOut), **ERRORS},
    tags=["alerts"],
)
webhooks_list = extend_schema(
    operation_id="webhooks_list",
    parameters=PAGE_PARAMETERS,
    responses={200: page_of("WebhookPage", WebhookOut), **ERRORS},
    tags=["webhooks"],
)
webhooks_create = extend_schema(
    operation_id="webhooks_create",
    request=WebhookIn,
    responses={201: WebhookSecretData, **ERRORS},
    tags=["webhooks"],
)
webhooks_retrieve = extend_schema(
    operation_id="webhooks_retrieve", responses={200: WebhookData, **ERRORS_404}, tags=["webhooks"]
)
webhooks_update = extend_schema(
    operation_id="webhooks_update",
    request=WebhookIn(partial=True),
    responses={200: WebhookData, **ERRORS_404},
    tags=["webhooks"],
)
webhooks_destroy = extend_schema(
    operation_id="webhooks_destroy", responses=NO_CONTENT, tags=["webhooks"]
)
webhooks_rotate = extend_schema(
    operation_id="webhooks_rotate_secret",
    request=None,
    responses={200: WebhookSecretData, **ERRORS_404},
    tags=["webhooks"],
)
webhooks_test = extend_schema(
    operation_id="webhooks_test",
    request=None,
    responses={202: DeliveryData, **ERRORS_404},
    tags=["webhooks"],
)
webhooks_deliveries = extend_schema(
    operation_id="webhooks_deliveries",
    parameters=[
        *PAGE_PARAMETERS,
        _q(
            "status",
            "Only deliveries in this status",
            enum=["pending", "delivered", "failed", "cancelled"],
        ),
    ],
    responses={200: page_of("DeliveryPage", DeliveryOut), **ERRORS_404},
    tags=["webhooks"],
)
