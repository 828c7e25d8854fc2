"""The request as every app sees it: htmx details, the client's address and user agent, and the
template (whole page or htmx region) a console page renders. The requests that carry iam's
objects (`ConsoleRequest`, `ApiRequest`) are typed in iam.http, above this."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


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
    return str(request.META.get("HTTP_USER_AGENT", ""))[:512]


# --- console pages -----------------------------------------------------------------------------


def region_template(request: HttpRequest, template: str) -> str:
    """The template to render for `request`: `template#<region>` when htmx targets a region that
    `template` defines as a partial, else the whole page.

    HX-Target is whatever the client sent: a page without that partial, a made-up name, or a
    history restore (which needs the whole page) all get the page, never an error.
    """
    htmx = getattr(request, "htmx", None)
    target = htmx.target if htmx and not htmx.history_restore_request else None
    if not target:
        return template
    partial = f"{template}#{target}"
    try:
        get_template(partial)  # cached by the template loader after the first look
    except TemplateDoesNotExist:
        return template
    return partial
