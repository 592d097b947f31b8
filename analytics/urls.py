from django.urls import path

from analytics import views

urlpatterns = [
    path("sessions", views.SessionViewSet.as_view({"get": "list"}), name="sessions"),
    # Session ids may contain '/': the timeline route comes first and tells a literal
    # '/timeline' suffix from an encoded one (see SessionDetailViewSet._split_path).
    path(
        "sessions/<path:session_id>/timeline",
        views.SessionDetailViewSet.as_view({"get": "timeline"}),
        name="session-timeline",
    ),
    path(
        "sessions/<path:session_id>",
        views.SessionDetailViewSet.as_view({"get": "retrieve"}),
        name="session-detail",
    ),
    path(
        "session-metrics",
        views.SessionMetricsViewSet.as_view({"get": "list"}),
        name="session-metrics",
    ),
    path("costs", views.CostViewSet.as_view({"get": "list"}), name="costs"),
    path("events", views.EventListViewSet.as_view({"get": "list"}), name="events"),
]
