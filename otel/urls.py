from django.urls import path

from otel.views import OtlpTracesViewSet

# Mounted at /v1/otel/, so OTEL_EXPORTER_OTLP_ENDPOINT=<base>/v1/otel works with stock exporters.
urlpatterns = [
    path("v1/traces", OtlpTracesViewSet.as_view({"post": "create"}), name="otel-traces"),
]
