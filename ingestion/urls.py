from django.urls import path

from ingestion.views import EventViewSet

urlpatterns = [
    path("events", EventViewSet.as_view({"post": "create"}), name="events"),
    path("events/batch", EventViewSet.as_view({"post": "batch"}), name="events-batch"),
]
