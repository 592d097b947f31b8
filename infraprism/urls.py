from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from infraprism import health
from metrics import views as metrics_views

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("v1/", include("ingestion.urls")),
    path("v1/analytics/", include("analytics.urls")),
    # Budgets, alerts and webhooks (scope `manage`).
    path("v1/", include("budgets.urls")),
    # OTLP/HTTP: OTEL_EXPORTER_OTLP_ENDPOINT=<base>/v1/otel posts to /v1/otel/v1/traces.
    path("v1/otel/", include("otel.urls")),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Members' dashboard: `/`, /accounts/ (sign-in) and /o/<slug>/... pages.
    path("", include("dashboard.urls")),
]

handler400 = "infraprism.errors.bad_request"
handler404 = "infraprism.errors.not_found"
handler500 = "infraprism.errors.server_error"
