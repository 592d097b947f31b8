from django.urls import path

from ingestion.views import EventViewSet

urlpatterns = [
    path("events", EventViewSet.as_view({"post": "create"}), name="events"),
    # The action's own settings (its BatchParser above all), as a router would pass them:
    # without them the batch is parsed as one event, fails, and takes the slow per-item path.
    path(
        "events/batch",
        EventViewSet.as_view({"post": "batch"}, **EventViewSet.batch.kwargs),
        name="events-batch",
    ),
]
