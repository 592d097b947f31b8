"""HTML error pages of the dashboard (the API's handlers answer JSON)."""

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def not_found(request: HttpRequest) -> HttpResponse:
    response = TemplateResponse(request, "dashboard/errors/404.html", status=404)
    return response.render()


def forbidden(request: HttpRequest, reason: str) -> HttpResponse:
    response = TemplateResponse(
        request, "dashboard/errors/403.html", {"reason": reason}, status=403
    )
    return response.render()
