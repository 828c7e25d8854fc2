"""Audit Trail API v1alpha1, wire-compatible with Scaleway's (reference §2), plus batch ingestion.

The views parse with `Params`, authorize with the console's permission check and read through
`audit.selectors`, so the SDK and the Events page list the same events in the same order.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from api.http import (
    ApiError,
    Params,
    api_view,
    argument_error,
    authorize,
    check_organization,
    invalid_arguments,
    parse_timestamp,
)
from audit import catalogue, ingest
from audit.models import AuthenticationEvent, Event
from audit.selectors import DEFAULT_WINDOW, EventQuery, earlier, event_queryset
from audit.serializers import authentication_event_json, event_json
from core.paging import Cursor, event_page
from core.regions import DEFAULT_REGION, REGION_RE
from core.time import iso
from iam.http import ApiRequest

READ = "audit_trail:read"
ORDER_BY = ("recorded_at_desc", "recorded_at_asc")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
PAGE_TOKEN_MAX = 1000
STATUS_MAX = 999
# ResourceType's proto default, which Go clients always send: no filter.
UNKNOWN_TYPE = "unknown_type"
# The longest product, service and method names ingestion accepts (audit.ingest), and resource ids.
PRODUCT_MAX, SERVICE_MAX, METHOD_MAX, RESOURCE_ID_MAX, SOURCE_IP_MAX = 64, 128, 128, 200, 64

# --- page tokens -------------------------------------------------------------------------------


class PageToken:
    """Opaque `next_page_token`: the keyset cursor, the resolved time window, and a digest of
    the filters, so that following pages keeps the first page's window ("now" moves on) and a
    token cannot be replayed against another query."""

    @staticmethod
    def encode(cursor: Cursor, window: tuple[datetime, datetime], digest: str) -> str:
        raw = json.dumps([cursor.encode(), iso(window[0]), iso(window[1]), digest]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(token: str, digest: str) -> tuple[Cursor, tuple[datetime, datetime]]:
        error = invalid_arguments([argument_error("page_token", "format", "invalid or foreign page token")])
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            cursor_token, after, before, token_digest = json.loads(raw)
            window = (parse_timestamp(after), parse_timestamp(before))
            cursor = Cursor.decode(cursor_token)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise error from None
        if token_digest != digest or cursor.newer or window[0] is None or window[1] is None:
            raise error
        return cursor, (window[0], window[1])


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:24]


class ListRequest:
    """What every cursor-paged list shares: window, order, page size and page token."""

    def __init__(self, params: Params) -> None:
        self.recorded_after = params.datetime("recorded_after")
        self.recorded_before = params.datetime("recorded_before")
        self.order = params.enum("order_by", ORDER_BY, default="recorded_at_desc")
        self.page_size = params.integer("page_size", minimum=1, maximum=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        self.page_token = params.string("page_token", max_length=PAGE_TOKEN_MAX)

    @property
    def ascending(self) -> bool:
        return self.order == "recorded_at_asc"

    def resolve(self, *filters: Any) -> tuple[tuple[datetime, datetime], Cursor | None, str]:
        """(window, cursor, digest). Defaults: recorded_after = one hour ago, recorded_before = now."""
        digest = _digest(self.order, self.recorded_after, self.recorded_before, *filters)
        if self.page_token:
            cursor, window = PageToken.decode(self.page_token, digest)
            return window, cursor, digest
        before = self.recorded_before or timezone.now()
        after = self.recorded_after or earlier(before, DEFAULT_WINDOW)
        return (after, before), None, digest


def _region(region: str) -> str:
    if not REGION_RE.fullmatch(region):
        raise invalid_arguments([argument_error("region", "format", "region must look like fr-par")])
    return region


def _source_ip(params: Params) -> str | None:
    value = params.string("source_ip", max_length=SOURCE_IP_MAX)
    if value is None:
        return None
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        params.error("source_ip", "format", "source_ip must be an IP address or a CIDR network")
        return None
    return value


def _resource_type(params: Params) -> str | None:
    value = params.string("resource_type", max_length=64)
    if value is None or value == UNKNOWN_TYPE:
        return None
    if not ingest.RESOURCE_TYPE_RE.fullmatch(value):
        params.error("resource_type", "format", "resource_type must be a resource type such as iam_api_key")
        return None
    return value


def _prepare(request: ApiRequest, region: str, method: str) -> Params:
    params = Params(request.GET)
    _region(region)
    check_organization(request, params, action=READ, method=method, locality=region)
    authorize(request, READ, method=method, locality=region)
    return params


# --- endpoints ---------------------------------------------------------------------------------


@api_view("GET")
def list_events(request: ApiRequest, region: str) -> HttpResponse:
    """ListEvents: all 15 parameters of §2.1, keyset-paged through `audit.selectors`."""
    params = _prepare(request, region, "ListEvents")
    listing = ListRequest(params)
    status = params.integer("status", minimum=0, maximum=STATUS_MAX)
    filters = {
        "project_id": params.uuid("project_id"),
        "product_name": params.string("product_name", max_length=PRODUCT_MAX),
        "service_name": params.string("service_name", max_length=SERVICE_MAX),
        "method_name": params.string("method_name", max_length=METHOD_MAX),
        "status": status or None,  # 0 is the proto default: no filter
        "principal_id": params.uuid("principal_id"),
        "source_ip": _source_ip(params),
        "resource_type": _resource_type(params),
        "resource_id": params.string("resource_id", max_length=RESOURCE_ID_MAX),
    }
    params.check()
    window, cursor, digest = listing.resolve(request.organization.pk, region, *filters.values())
    query = EventQuery(region=region, recorded_after=window[0], recorded_before=window[1], **filters)
    qs = event_queryset(organization_id=request.organization.pk, query=query)
    page = event_page(
        qs, order="asc" if listing.ascending else "desc", cursor=cursor, page_size=listing.page_size
    )
    body: dict[str, Any] = {"events": [event_json(e) for e in page.events]}
    if page.next_cursor is not None:
        body["next_page_token"] = PageToken.encode(page.next_cursor, window, digest)
    return JsonResponse(body)


@api_view("GET")
def list_products(request: ApiRequest, region: str) -> HttpResponse:
    """ListProducts: the products, services and methods present in the organization's events.

    Cost: one DISTINCT over the organization's events in the region (index-only on PostgreSQL
    is not possible for three columns; fine up to millions of rows per organization).
    """
    params = _prepare(request, region, "ListProducts")
    params.check()
    triples = (
        Event.objects.filter(organization_id=request.organization.pk, region=region)
        .values_list("product_name", "service_name", "method_name")
        .order_by()
        .distinct()
    )
    products: dict[str, dict[str, set[str]]] = {}
    for product, service, method in triples:
        products.setdefault(product, {}).setdefault(service, set()).add(method)
    listing = [
        {
            "title": _product_title(name),
            "name": name,
            "services": [
                {"name": service, "methods": sorted(methods)} for service, methods in sorted(services.items())
            ],
        }
        for name, services in products.items()
    ]
    listing.sort(key=lambda p: (p["title"].lower(), p["name"]))
    return JsonResponse({"products": listing, "total_count": len(listing)})


def _product_title(name: str) -> str:
    """The catalogue's title; a product it does not know (ingested events) shows its name."""
    known = catalogue.product(name)
    return known.title if known else name


def _authentication_events(request: ApiRequest, region: str) -> QuerySet[AuthenticationEvent]:
    # Sign-ins are global: like IAM, they are stored and listed under fr-par.
    qs = AuthenticationEvent.objects.filter(organization_id=request.organization.pk)
    return qs if region == DEFAULT_REGION else qs.none()


def _window(qs: QuerySet[Any], window: tuple[datetime, datetime]) -> QuerySet[Any]:
    return qs.filter(recorded_at__gte=window[0], recorded_at__lte=window[1])


@api_view("GET")
def list_authentication_events(request: ApiRequest, region: str) -> HttpResponse:
    """ListAuthenticationEvents: console sign-ins of the organization's members."""
    params = _prepare(request, region, "ListAuthenticationEvents")
    listing = ListRequest(params)
    params.check()
    window, cursor, digest = listing.resolve(request.organization.pk, region)
    qs = _window(_authentication_events(request, region), window)
    page = event_page(
        qs,  # type: ignore[arg-type]
        order="asc" if listing.ascending else "desc",
        cursor=cursor,
        page_size=listing.page_size,
    )
    body: dict[str, Any] = {"events": [authentication_event_json(e) for e in page.events]}  # type: ignore[arg-type]
    if page.next_cursor is not None:
        body["next_page_token"] = PageToken.encode(page.next_cursor, window, digest)
    return JsonResponse(body)


def _sort_key(row: Event | AuthenticationEvent) -> tuple[datetime, uuid.UUID]:
    return (row.recorded_at, row.id)


@api_view("GET")
def list_combined_events(request: ApiRequest, region: str) -> HttpResponse:
    """ListCombinedEvents: API-call and sign-in events merged by (recorded_at, id).

    Both streams are keyset-paged from the same cursor (ids are unique across them), so one
    token serves both: each page reads page_size + 1 rows of each stream and merges.
    """
    params = _prepare(request, region, "ListCombinedEvents")
    listing = ListRequest(params)
    project_id = params.uuid("project_id")
    resource_type = _resource_type(params)
    params.check()
    window, cursor, digest = listing.resolve(request.organization.pk, region, project_id, resource_type)
    order = "asc" if listing.ascending else "desc"
    query = EventQuery(
        region=region,
        recorded_after=window[0],
        recorded_before=window[1],
        project_id=project_id,
        resource_type=resource_type,
    )
    api_page = event_page(
        event_queryset(organization_id=request.organization.pk, query=query),
        order=order,
        cursor=cursor,
        page_size=listing.page_size,
    )
    rows: list[Event | AuthenticationEvent] = list(api_page.events)
    more = api_page.has_more
    # Sign-ins have no project, and their only resource is the user.
    if project_id is None and resource_type in (None, "iam_user"):
        auth_page = event_page(
            _window(_authentication_events(request, region), window),  # type: ignore[arg-type]
            order=order,
            cursor=cursor,
            page_size=listing.page_size,
        )
        rows.extend(auth_page.events)
        more = more or auth_page.has_more
    rows.sort(key=_sort_key, reverse=not listing.ascending)
    more = more or len(rows) > listing.page_size
    rows = rows[: listing.page_size]
    body: dict[str, Any] = {
        "events": [
            {"api": event_json(r)} if isinstance(r, Event) else {"auth": authentication_event_json(r)}
            for r in rows
        ]
    }
    if more and rows:
        last = rows[-1]
        body["next_page_token"] = PageToken.encode(Cursor(last.recorded_at, last.id), window, digest)
    return JsonResponse(body)


# --- ingestion (our extension) -----------------------------------------------------------------


@api_view("POST")
def ingest_events(request: ApiRequest) -> HttpResponse:
    """POST up to 1,000 events (JSON `{"events": [...]}`, a JSON array, or NDJSON).

    The batch is validated whole and stored whole, or refused with every bad event named by
    its index. Events already stored (same id) are skipped, so a retried batch is harmless.
    """
    authorize(request, "audit_trail:ingest", method="IngestEvents", locality=DEFAULT_REGION)
    raw = _read_limited(request)
    ndjson = "ndjson" in request.content_type or "jsonlines" in request.content_type
    try:
        result = ingest.ingest_payload(raw, organization=request.organization, ndjson=ndjson)
    except ingest.BatchInvalid as invalid:
        raise invalid_arguments(invalid.details) from None
    return JsonResponse(
        {"received": result.received, "created": result.created, "duplicates": result.duplicates}
    )


def _read_limited(request: ApiRequest) -> bytes:
    """The body, read from the stream: a batch may exceed DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = ingest.MAX_BATCH_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _too_large(limit)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    return raw


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        {
            "message": f"the batch is larger than {limit} bytes; send at most {ingest.MAX_BATCH} events",
            "type": "invalid_arguments",
            "details": [argument_error("body", "constraint", f"at most {limit} bytes")],
        },
    )
