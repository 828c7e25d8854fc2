"""Typed requests, client IP resolution and request ids shared by the console and the API, and
what every console page does with its query and htmx headers (regions, table paging)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import HttpRequest
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

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


MAX_PER_PAGE = 100


def paginate_table(
    request: HttpRequest, table: Any, *, per_page: int, max_per_page: int = MAX_PER_PAGE
) -> Any:
    """django-tables2's RequestConfig, minus its trust in the query: `per_page` is clamped to
    1..max_per_page (a value that is not a whole number means `per_page`), and a page number out
    of range or not a number shows the nearest page. Sorting comes from the query as usual; the
    table's columns decide what is orderable."""
    table.request = request
    order_by = request.GET.getlist(table.prefixed_order_by_field)
    if order_by:
        table.order_by = order_by
    try:
        asked = int(request.GET.get(table.prefixed_per_page_field, ""))
    except ValueError:
        asked = per_page
    try:
        page = int(request.GET.get(table.prefixed_page_field, ""))
    except ValueError:
        page = 1
    try:
        table.paginate(page=page, per_page=min(max(asked, 1), max_per_page))
    except PageNotAnInteger:
        table.page = table.paginator.page(1)
    except EmptyPage:
        table.page = table.paginator.page(table.paginator.num_pages if page > 1 else 1)
    return table
