from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from metrics.instruments import LATENCY, REQUESTS

# A path that resolves to no view (a 404, a probe) is counted under one name, not its own path:
# a scanner must not make one series per URL it tries.
UNRESOLVED = "<unresolved>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Count every request and time it, by the view's URL name (`audit:event_list`, `api-list-events`).

    Outermost, so that the time includes every other middleware and a response that one of them
    short-circuits (a 403 from CSRF, a 503 from a database fault) is counted too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = (match.view_name or UNRESOLVED) if match else UNRESOLVED
        method = request.method if request.method in METHODS else "other"
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        return response
