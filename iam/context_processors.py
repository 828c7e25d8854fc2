from __future__ import annotations

from functools import cache
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from iam.middleware import SESSION_TIME_DISPLAY
from iam.navigation import console_sections, iam_tabs


def console(request: HttpRequest) -> dict[str, Any]:
    session = getattr(request, "session", None)
    return {
        "current_organization": getattr(request, "organization", None),
        "organizations": getattr(request, "organizations", []),
        "time_display": (session.get(SESSION_TIME_DISPLAY) if session is not None else None) or "local",
        "display_time_zone": timezone.get_current_timezone_name(),
        # Called by the template only where it shows them (a callable is resolved on use), once.
        "nav_sections": cache(lambda: console_sections(request)),
        "iam_tabs": cache(lambda: iam_tabs(request)),
    }
