"""`/`: a member goes to their (first) organization's sessions, everyone else to sign-in."""

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from dashboard.selectors import memberships_of


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        membership = memberships_of(user=request.user).first()
        if membership is not None:
            return redirect("org:sessions", org_slug=membership.organization.slug)
        return redirect("login")  # signed in, but member of nothing: the page says so
    return redirect_to_login("/")
