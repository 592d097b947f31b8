"""Dashboard routes: `/`, sign-in at /accounts/, and the organization pages under /o/<slug>/.

Everything in `org_patterns` is included under the `org` namespace, which is what
OrganizationAccessMiddleware checks membership for: a page added here is protected by being
added here.
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import budgets_views
from dashboard.views import costs, home, keys, metrics, sessions

org_patterns = [
    path("sessions/", sessions.sessions_list, name="sessions"),
    path("sessions.csv", sessions.sessions_csv, name="sessions-csv"),
    path("sessions/<path:session_id>/", sessions.session_detail, name="session"),
    path("session/", sessions.session_detail_by_query, name="session-by-query"),
    path("metrics/", metrics.metrics, name="metrics"),
    path("metrics/histograms/", metrics.metrics_histograms, name="metrics-histograms"),
    path("costs/", costs.costs, name="costs"),
    path("costs.csv", costs.costs_csv, name="costs-csv"),
    path("keys/", keys.keys, name="keys"),
    path("keys/<str:prefix>/revoke", keys.key_revoke, name="key-revoke"),
    path("budgets/", budgets_views.budgets_page, name="budgets"),
    path("budgets/delete", budgets_views.budget_delete, name="budget-delete"),
    path("budgets/webhooks", budgets_views.webhook_create, name="webhook-create"),
    path("budgets/webhooks/action", budgets_views.webhook_action, name="webhook-action"),
    path("budgets/time-zone", budgets_views.time_zone_change, name="budgets-time-zone"),
]

accounts_patterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password_change/",
        auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html"),
        name="password_change",
    ),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="registration/password_change_done.html"
        ),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("", home.home, name="home"),
    path("accounts/", include(accounts_patterns)),
    path("o/<slug:org_slug>/", include((org_patterns, "org"), namespace="org")),
]
