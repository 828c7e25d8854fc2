from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from iam.middleware import SESSION_TIME_DISPLAY


def console(request: HttpRequest) -> dict[str, Any]:
    session = getattr(request, "session", None)
    return {
        "current_organization": getattr(request, "organization", None),
        "organizations": getattr(request, "organizations", []),
        "time_display": (session.get(SESSION_TIME_DISPLAY) if session is not None else None) or "local",
        "display_time_zone": timezone.get_current_timezone_name(),
    }
