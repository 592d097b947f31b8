"""Sign-in throttling (django-axes) for sign-ins over HTTP only."""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class HttpSignInAxesBackend(AxesStandaloneBackend):
    """django-axes' backend, minus its refusal of `authenticate()` calls without a request.

    Every sign-in over HTTP (the dashboard's and the admin's login views) passes its request and
    is throttled as before. Calls from code have none (`Client.login()` in tests, scripts) and
    are no guess from the network to count, so this backend steps aside for them and lets the
    next backend check the password.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        super().authenticate(request, username, password, **kwargs)  # raises when locked out
        return None
