"""Typed requests, client IP resolution and request ids shared by the console and the API."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from iam.models import APIKey, Application, Organization, User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class ConsoleRequest(HtmxHttpRequest):
    """A signed-in console request, after OrganizationMiddleware."""

    user: User  # type: ignore[assignment]
    organization: Organization | None
    request_id: str


class ApiRequest(HttpRequest):
    organization: Organization
    api_key: APIKey
    principal: User | Application
    request_id: str


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_trusted(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from.

    X-Forwarded-For is only believed when the direct peer is a trusted proxy (TRUSTED_PROXIES),
    and then read from the right, skipping our own proxies: the left-most entries are whatever
    the client chose to send.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _is_trusted(remote):
        return _valid_ip(remote)
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    for hop in reversed(forwarded):
        if not _is_trusted(hop):
            return _valid_ip(hop)
    return _valid_ip(remote)


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:512]
