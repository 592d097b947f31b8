"""The product's URLs plus the naive ingestion endpoint that only the benchmark server mounts."""

from django.urls import path

from bench.naive import NaiveBatchView
from infraprism.urls import handler404, handler500
from infraprism.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path("bench/naive/events/batch", NaiveBatchView.as_view(), name="bench-naive-batch"),
]

__all__ = ["handler404", "handler500", "urlpatterns"]
