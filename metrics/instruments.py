"""The metrics counted in the process that serves the requests: request rates and latencies per
view, events recorded and refusals per organization and region.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes prometheus-client keep these in files of that
directory, one per process, which `/metrics` sums over every worker (config/gunicorn.py clears
the directory at start and drops a dead worker's gauges). Without it (runserver, tests) they live
in this process's memory.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

from audit.signals import Recorded

REQUESTS = Counter(
    "audit_trail_http_requests",
    "HTTP requests answered, by view (URL name), method and status code.",
    ["route", "method", "status"],
)
# Buckets around what the console and the API answer in: most under 100 ms, exports and wide
# scans up to seconds.
LATENCY = Histogram(
    "audit_trail_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (URL name) and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENTS = Counter(
    "audit_trail_events_recorded",
    "Events stored in the trail (ingestion, the console's and the API's own actions and refusals), "
    "by organization and region.",
    ["organization", "region"],
)
REFUSALS = Counter(
    "audit_trail_refusals",
    "Events with status 403 stored in the trail (refused actions), by organization and region.",
    ["organization", "region"],
)


def count_recorded(sender: Any, *, recorded: list[Recorded], **kwargs: Any) -> None:
    """`events_recorded` receiver: count the events, and the 403s among them. No query."""
    for group in recorded:
        labels = (str(group.organization_id), group.region)
        EVENTS.labels(*labels).inc(len(group.event_ids))
        if group.refused:
            REFUSALS.labels(*labels).inc(group.refused)
