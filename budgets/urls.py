"""Routes of the manage API, included under /v1/."""

from typing import Any

from django.urls import path

from budgets.views import AlertViewSet, BudgetViewSet, WebhookViewSet

ONE: dict[str, Any] = {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}

urlpatterns = [
    path("budgets", BudgetViewSet.as_view({"get": "list", "post": "create"}), name="budgets"),
    path("budgets/status", BudgetViewSet.as_view({"get": "statuses"}), name="budget-statuses"),
    path("budgets/<int:pk>", BudgetViewSet.as_view(ONE), name="budget"),
    path("budgets/<int:pk>/status", BudgetViewSet.as_view({"get": "status"}), name="budget-status"),
    path("alerts", AlertViewSet.as_view({"get": "list"}), name="alerts"),
    path("webhooks", WebhookViewSet.as_view({"get": "list", "post": "create"}), name="webhooks"),
    path("webhooks/<int:pk>", WebhookViewSet.as_view(ONE), name="webhook"),
    path(
        "webhooks/<int:pk>/test", WebhookViewSet.as_view({"post": "send_test"}), name="webhook-test"
    ),
    path(
        "webhooks/<int:pk>/rotate-secret",
        WebhookViewSet.as_view({"post": "rotate_secret"}),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<int:pk>/deliveries",
        WebhookViewSet.as_view({"get": "deliveries"}),
        name="webhook-deliveries",
    ),
]
