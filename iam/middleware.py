from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from iam.models import Organization

SESSION_ORGANIZATION = "organization_id"
SESSION_TIME_DISPLAY = "time_display"


class RequestIdMiddleware:
    """Give every request an id, returned as X-Request-Id and stored on the events it causes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = str(uuid.uuid4())  # type: ignore[attr-defined]  # typed on ConsoleRequest/ApiRequest; set here
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id  # type: ignore[attr-defined]  # typed on ConsoleRequest/ApiRequest; set here
        return response


class HtmxLoginRedirectMiddleware:
    """An htmx request from an expired session redirects the whole page, not the swapped region."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        login_url = resolve_url(settings.LOGIN_URL)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response.get("Location", "").startswith(login_url)
        ):
            return HttpResponseClientRedirect(response["Location"])
        return response


class OrganizationMiddleware:
    """Set `request.organization` (the one chosen in the header) and the display time zone.

    The organization list is the user's active memberships plus the organizations they own.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None  # type: ignore[attr-defined]  # typed on ConsoleRequest; set here
        request.organizations = []  # type: ignore[attr-defined]  # typed on ConsoleRequest; set here
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith("/admin/"):
            organizations = list(
                Organization.objects.filter(
                    Q(owner=user) | Q(memberships__user=user, memberships__removed_at__isnull=True)
                )
                .distinct()
                .order_by("name")
            )
            request.organizations = organizations  # type: ignore[attr-defined]  # typed on ConsoleRequest; set here
            chosen = request.session.get(SESSION_ORGANIZATION)
            current = next((o for o in organizations if str(o.pk) == chosen), None)
            request.organization = current or (organizations[0] if organizations else None)  # type: ignore[attr-defined]  # typed on ConsoleRequest; set here
            if request.session.get(SESSION_TIME_DISPLAY) == "utc":
                timezone.activate(zoneinfo.ZoneInfo("UTC"))
            else:
                try:
                    timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
