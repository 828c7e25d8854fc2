"""`/metrics`: Prometheus' text format, for Cockpit (Grafana and Prometheus) or any Prometheus.

Closed unless configured: the figures name organizations and their volumes, which no stranger
should read. METRICS_TOKEN asks for `Authorization: Bearer <token>`; METRICS_ALLOWED_IPS admits
only the scrapers' addresses (as core.http.client_ip sees them, behind TRUSTED_PROXIES); with both
set, a scrape needs both. With neither set, the path answers 404, as if it did not exist.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from core.http import client_ip
from metrics.collectors import DatabaseCollector


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token: str = settings.METRICS_TOKEN
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        raise Http404
    if networks:
        ip = client_ip(request)
        if ip is None or not any(ipaddress.ip_address(ip) in network for network in networks):
            return HttpResponse("Forbidden: this address may not read the metrics.\n", status=403)
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return HttpResponse(
                "Unauthorized: send Authorization: Bearer <METRICS_TOKEN>.\n",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    return None


def _registry() -> CollectorRegistry:
    """Under gunicorn with PROMETHEUS_MULTIPROC_DIR, the sum over every worker's files plus the
    database's figures; otherwise this process's registry, which holds both."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus-client leaves its __init__ unannotated
    registry.register(DatabaseCollector())
    return registry


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if refusal := _refusal(request):
        return refusal
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
