from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from infraprism import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("v1/", include("ingestion.urls")),
    path("v1/analytics/", include("analytics.urls")),
    path("v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Members' dashboard: `/`, /accounts/ (sign-in) and /o/<slug>/... pages.
    path("", include("dashboard.urls")),
]

handler404 = "infraprism.errors.not_found"
handler500 = "infraprism.errors.server_error"
