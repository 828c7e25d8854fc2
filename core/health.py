"""`/health/`: for load balancers, orchestrators and uptime checks. Public, and tells nothing but
whether this process can serve: it answers, and its database answers."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@require_safe
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """200 `{"status": "ok"}`, or 503 `{"status": "unavailable"}` when the database does not
    answer `SELECT 1` (the cause is logged, not shown). One query; no session, no sign-in."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("Health check: the database does not answer: %s", error)
        return JsonResponse({"status": "unavailable"}, status=503, headers={"Retry-After": "5"})
    return JsonResponse({"status": "ok"})
