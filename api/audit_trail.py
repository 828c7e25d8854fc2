"""Audit Trail API v1alpha1, wire-compatible with Scaleway's (reference §2).

Each endpoint is an `api.declare.Operation`: its parameters parse with `Params`, it authorizes with
the console's permission check, and it reads through `audit.selectors`, so the SDK and the Events
page list the same events in the same order. The wire shapes the answers are checked against are
declared here, beside the views; `audit.serializers` builds them.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from api.declare import Args, PathParam, Query, component, operation
from api.http import Params, argument_error, invalid_arguments, parse_timestamp
from api.schemas import (
    INTEGER,
    NULLABLE_TIMESTAMP,
    STRING,
    TIMESTAMP,
    UUID,
    Schema,
    array,
    closed,
)
from audit import catalogue, ingest
from audit.models import AuthenticationEvent, Event, SystemEvent
from audit.selectors import DEFAULT_WINDOW, EARLIEST, EventQuery, earlier, event_queryset
from audit.serializers import authentication_event_json, event_json, system_event_json
from core.paging import Cursor, event_page
from core.regions import DEFAULT_REGION, REGION_RE
from core.replication import replica_alias
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
    """What every cursor-paged list shares: window, order, page size and page token (WINDOW)."""

    def __init__(self, args: Args) -> None:
        self.recorded_after: datetime | None = args["recorded_after"]
        self.recorded_before: datetime | None = args["recorded_before"]
        self.order: str = args["order_by"]
        self.page_size: int = args["page_size"]
        self.page_token: str | None = args["page_token"]

    @property
    def ascending(self) -> bool:
        return self.order == "recorded_at_asc"

    @property
    def direction(self) -> Literal["asc", "desc"]:
        return "asc" if self.ascending else "desc"

    def resolve(self, *filters: Any) -> tuple[tuple[datetime, datetime], Cursor | None, str]:
        """(window, cursor, digest). Defaults: recorded_after = one hour ago, recorded_before = now."""
        digest = _digest(self.order, self.recorded_after, self.recorded_before, *filters)
        if self.page_token:
            cursor, window = PageToken.decode(self.page_token, digest)
            return window, cursor, digest
        before = self.recorded_before or timezone.now()
        after = self.recorded_after or earlier(before, DEFAULT_WINDOW)
        return (after, before), None, digest


def _region(region: str) -> None:
    if not REGION_RE.fullmatch(region):
        raise invalid_arguments([argument_error("region", "format", "region must look like fr-par")])


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


# --- declarations: parameters and wire shapes ---------------------------------------------------

TAG = "Audit Trail"
REGION = PathParam(
    "region", {"type": "string", "pattern": "^[a-z]{2}-[a-z]{3}$", "examples": ["fr-par"]}, _region
)
RESOURCE_TYPE: Schema = {
    "type": "string",
    "pattern": ingest.RESOURCE_TYPE_RE.pattern,
    "examples": ["iam_api_key"],
}
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_H16 = "[0-9a-fA-F]{1,4}"
_IPV6 = "|".join(
    [
        f"({_H16}:){{7}}{_H16}",
        f"({_H16}:){{1,7}}:",
        f"({_H16}:){{1,6}}:{_H16}",
        *(f"({_H16}:){{1,{n}}}(:{_H16}){{1,{7 - n}}}" for n in range(5, 0, -1)),
        f":((:{_H16}){{1,7}}|:)",
    ]
)
SOURCE_IP: Schema = {
    "type": "string",
    "anyOf": [
        {"format": "ipv4"},
        {"format": "ipv6"},
        {"pattern": f"^({_OCTET}\\.){{3}}{_OCTET}/([0-9]|[12][0-9]|3[0-2])$"},
        {"pattern": f"^({_IPV6})/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"},
    ],
    "maxLength": SOURCE_IP_MAX,
    "examples": ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"],
}
WINDOW = [
    Query.datetime("recorded_after", "Default: one hour before recorded_before."),
    Query.datetime("recorded_before", "Default: now."),
    Query.enum("order_by", ORDER_BY, default="recorded_at_desc"),
    Query.integer("page_size", minimum=1, maximum=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE),
    Query.string(
        "page_token",
        max_length=PAGE_TOKEN_MAX,
        schema={"type": "string", "maxLength": PAGE_TOKEN_MAX, "pattern": "^[A-Za-z0-9_-]*$"},
        description="A previous answer's next_page_token, with the same filters; any other token is refused.",
    ),
]
PROJECT = Query.uuid("project_id")

RESOURCE = component(
    "Resource",
    {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 200},
            "type": RESOURCE_TYPE,
            "name": {"type": ["string", "null"]},
            "action": {"type": ["string", "null"]},
            "created_at": NULLABLE_TIMESTAMP,
            "updated_at": NULLABLE_TIMESTAMP,
            "deleted_at": NULLABLE_TIMESTAMP,
        },
        "patternProperties": {"^[a-z][a-z0-9_]*_info$": {"type": "object"}},
        "description": "At most one `<x>_info` object, chosen by type (reference §3.3).",
    },
)
# audit.serializers.event_json
EVENT = component(
    "Event",
    closed(
        {
            "id": UUID,
            "recorded_at": TIMESTAMP,
            "locality": {"type": "string", "examples": ["fr-par", "fr-par-2", "global"]},
            "principal": closed({"id": UUID}, required=["id"]),
            "organization_id": UUID,
            "project_id": UUID,
            "source_ip": STRING,
            "user_agent": STRING,
            "product_name": STRING,
            "service_name": STRING,
            "method_name": STRING,
            "resources": array(RESOURCE),
            "request_id": STRING,
            "request_body": {"type": "object"},
            "status_code": INTEGER,
        },
        required=["id", "recorded_at", "locality", "organization_id", "product_name", "status_code"],
    ),
)
# audit.serializers.authentication_event_json
AUTHENTICATION_EVENT = component(
    "AuthenticationEvent",
    closed(
        {
            "id": UUID,
            "recorded_at": TIMESTAMP,
            "organization_id": UUID,
            "source_ip": STRING,
            "user_agent": STRING,
            "resources": array(RESOURCE),
            "result": {"type": "string", "enum": ["unknown_result", "success", "failure"]},
            "failure_reason": {
                "type": "string",
                "enum": ["unknown_failure_reason", "invalid_mfa", "invalid_password"],
            },
            "method": {
                "type": "string",
                "enum": ["unknown_method", "password", "authentication_code", "oauth2", "saml"],
            },
            "origin": {"type": "string", "enum": ["unknown_origin", "public_api", "admin_api"]},
            "mfa_type": {"type": "string", "enum": ["unknown_mfa_type", "totp"]},
        },
        required=["id", "recorded_at", "organization_id", "result", "method", "origin"],
    ),
)
# audit.serializers.system_event_json
SYSTEM_EVENT = component(
    "SystemEvent",
    closed(
        {
            "id": UUID,
            "recorded_at": TIMESTAMP,
            "locality": STRING,
            "organization_id": UUID,
            "project_id": UUID,
            "product_name": STRING,
            "source": STRING,
            "system_name": STRING,
            "resources": array(RESOURCE),
            "kind": {"type": "string", "enum": ["unknown_kind", "cron", "notification"]},
        },
        required=["id", "recorded_at", "locality", "organization_id", "kind"],
    ),
)
NEXT_PAGE_TOKEN: Schema = {"type": "string", "description": "Absent on the last page."}


def _events_response(name: str, item: Schema) -> Schema:
    return component(
        name, closed({"events": array(item), "next_page_token": NEXT_PAGE_TOKEN}, required=["events"])
    )


# --- endpoints ---------------------------------------------------------------------------------


@operation(
    "GET",
    "ListEvents",
    summary="List the organization's events in a region, keyset-paged",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=[
        *WINDOW,
        Query.integer("status", minimum=0, maximum=STATUS_MAX, description="0: no filter."),
        PROJECT,
        Query.string("product_name", max_length=PRODUCT_MAX),
        Query.string("service_name", max_length=SERVICE_MAX),
        Query.string("method_name", max_length=METHOD_MAX),
        Query.uuid("principal_id"),
        Query.custom("source_ip", SOURCE_IP, _source_ip, "An IP address or a CIDR network."),
        Query.custom("resource_type", RESOURCE_TYPE, _resource_type, "`unknown_type` or empty: no filter."),
        Query.string("resource_id", max_length=RESOURCE_ID_MAX),
    ],
    response=_events_response("ListEventsResponse", EVENT),
)
def list_events(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListEvents: all 15 parameters of §2.1, keyset-paged through `audit.selectors`."""
    listing = ListRequest(args)
    filters = {name: args[name] for name in EVENT_FILTERS}
    filters["status"] = args["status"] or None  # 0 is the proto default: no filter
    window, cursor, digest = listing.resolve(request.organization.pk, region, *filters.values())
    query = EventQuery(region=region, recorded_after=window[0], recorded_before=window[1], **filters)
    qs = event_queryset(organization_id=request.organization.pk, query=query, replica=True)
    page = event_page(qs, order=listing.direction, cursor=cursor, page_size=listing.page_size)
    body: dict[str, Any] = {"events": [event_json(e) for e in page.events]}
    if page.next_cursor is not None:
        body["next_page_token"] = PageToken.encode(page.next_cursor, window, digest)
    return JsonResponse(body)


# In this order: it is part of the page token's digest.
EVENT_FILTERS = (
    "project_id",
    "product_name",
    "service_name",
    "method_name",
    "status",
    "principal_id",
    "source_ip",
    "resource_type",
    "resource_id",
)


@operation(
    "GET",
    "ListProducts",
    summary="List the products, services and methods present in the organization's events",
    tag=TAG,
    action=READ,
    path=[REGION],
    response=component(
        "ListProductsResponse",
        closed(
            {
                "products": array(
                    closed(
                        {
                            "title": STRING,
                            "name": STRING,
                            "services": array(closed({"name": STRING, "methods": array(STRING)})),
                        },
                        required=["title", "name", "services"],
                    )
                ),
                "total_count": INTEGER,
            },
            required=["products", "total_count"],
        ),
    ),
)
def list_products(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListProducts: the products, services and methods present in the organization's events.

    Cost: one DISTINCT over the organization's events in the region (index-only on PostgreSQL
    is not possible for three columns; fine up to millions of rows per organization).
    """
    triples = (
        Event.objects.using(replica_alias())
        .filter(organization_id=request.organization.pk, region=region)
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
    listing.sort(key=lambda p: (str(p["title"]).lower(), str(p["name"])))
    return JsonResponse({"products": listing, "total_count": len(listing)})


def _product_title(name: str) -> str:
    """The catalogue's title; a product it does not know (ingested events) shows its name."""
    known = catalogue.product(name)
    return known.title if known else name


def _authentication_events(request: ApiRequest, region: str) -> QuerySet[AuthenticationEvent]:
    # Sign-ins are global: like IAM, they are stored and listed under fr-par.
    qs = AuthenticationEvent.objects.using(replica_alias()).filter(organization_id=request.organization.pk)
    return qs if region == DEFAULT_REGION else qs.none()


def _window(qs: QuerySet[Any], window: tuple[datetime, datetime]) -> QuerySet[Any]:
    return qs.filter(recorded_at__gte=window[0], recorded_at__lte=window[1])


@operation(
    "GET",
    "ListAuthenticationEvents",
    summary="List console sign-ins (global: listed under fr-par)",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=WINDOW,
    response=_events_response("ListAuthenticationEventsResponse", AUTHENTICATION_EVENT),
)
def list_authentication_events(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListAuthenticationEvents: console sign-ins of the organization's members."""
    return _keyset_json(
        request, args, region, _authentication_events(request, region), authentication_event_json
    )


def _keyset_json[Row](
    request: ApiRequest, args: Args, region: str, qs: QuerySet[Any], to_json: Callable[[Row], dict[str, Any]]
) -> HttpResponse:
    """One keyset page of `qs` in the request's window, as {"events": [...], "next_page_token"}:
    the list calls whose rows need nothing but their own serializer."""
    listing = ListRequest(args)
    window, cursor, digest = listing.resolve(request.organization.pk, region)
    page = event_page(
        _window(qs, window), order=listing.direction, cursor=cursor, page_size=listing.page_size
    )
    body: dict[str, Any] = {"events": [to_json(e) for e in page.events]}
    if page.next_cursor is not None:
        body["next_page_token"] = PageToken.encode(page.next_cursor, window, digest)
    return JsonResponse(body)


def _system_events(request: ApiRequest, region: str) -> QuerySet[SystemEvent]:
    return SystemEvent.objects.using(replica_alias()).filter(
        organization_id=request.organization.pk, region=region
    )


@operation(
    "GET",
    "ListSystemEvents",
    summary="List what the platform did by itself: export runs (cron), alert e-mails (notification)",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=WINDOW,
    response=_events_response("ListSystemEventsResponse", SYSTEM_EVENT),
)
def list_system_events(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListSystemEvents: the organization's system events in the region, keyset-paged."""
    return _keyset_json(request, args, region, _system_events(request, region), system_event_json)


def _combined_json(row: Event | AuthenticationEvent | SystemEvent) -> dict[str, Any]:
    if isinstance(row, Event):
        return {"api": event_json(row)}
    if isinstance(row, SystemEvent):
        return {"system": system_event_json(row)}
    return {"auth": authentication_event_json(row)}


def _sort_key(row: Event | AuthenticationEvent | SystemEvent) -> tuple[datetime, uuid.UUID]:
    return (row.recorded_at, row.id)


@operation(
    "GET",
    "ListCombinedEvents",
    summary="List API-call, sign-in and system events merged by time",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=[*WINDOW, PROJECT, Query.custom("resource_type", RESOURCE_TYPE, _resource_type)],
    response=_events_response(
        "ListCombinedEventsResponse",
        {
            "type": "object",
            "oneOf": [
                closed({"api": EVENT}, required=["api"]),
                closed({"auth": AUTHENTICATION_EVENT}, required=["auth"]),
                closed({"system": SYSTEM_EVENT}, required=["system"]),
            ],
        },
    ),
)
def list_combined_events(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListCombinedEvents: API-call, sign-in and system events merged by (recorded_at, id).

    The streams are keyset-paged from the same cursor (ids are unique across them), so one
    token serves all: each page reads page_size + 1 rows of each stream and merges.
    """
    listing = ListRequest(args)
    project_id: uuid.UUID | None = args["project_id"]
    resource_type: str | None = args["resource_type"]
    window, cursor, digest = listing.resolve(request.organization.pk, region, project_id, resource_type)
    query = EventQuery(
        region=region,
        recorded_after=window[0],
        recorded_before=window[1],
        project_id=project_id,
        resource_type=resource_type,
    )
    api_page = event_page(
        event_queryset(organization_id=request.organization.pk, query=query, replica=True),
        order=listing.direction,
        cursor=cursor,
        page_size=listing.page_size,
    )
    rows: list[Event | AuthenticationEvent | SystemEvent] = list(api_page.events)
    more = api_page.has_more
    # Sign-ins have no project, and their only resource is the user.
    if project_id is None and resource_type in (None, "iam_user"):
        auth_page = event_page(
            _window(_authentication_events(request, region), window),
            order=listing.direction,
            cursor=cursor,
            page_size=listing.page_size,
        )
        rows.extend(auth_page.events)
        more = more or auth_page.has_more
    # System events carry the project of what they acted on (an export job's bucket), and its
    # resources; filtered as the API calls are.
    system_qs = _window(_system_events(request, region), window)
    if project_id is not None:
        system_qs = system_qs.filter(project_id=project_id)
    if resource_type is not None:
        system_qs = system_qs.filter(resources__has_item={"type": resource_type})
    system_page = event_page(system_qs, order=listing.direction, cursor=cursor, page_size=listing.page_size)
    rows.extend(system_page.events)
    more = more or system_page.has_more
    rows.sort(key=_sort_key, reverse=not listing.ascending)
    more = more or len(rows) > listing.page_size
    rows = rows[: listing.page_size]
    body: dict[str, Any] = {"events": [_combined_json(r) for r in rows]}
    if more and rows:
        last = rows[-1]
        body["next_page_token"] = PageToken.encode(Cursor(last.recorded_at, last.id), window, digest)
    return JsonResponse(body)


# How many events GetLastEventsOverview answers: Scaleway does not document it (reference §2.6).
LAST_EVENTS = 10


@operation(
    "GET",
    "GetLastEventsOverview",
    summary="The organization's most recent events in a region, newest first",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=[PROJECT],
    response=component(
        "EventsOverview",
        closed({"last_events": array(EVENT, maxItems=LAST_EVENTS)}, required=["last_events"]),
    ),
    description=f"The last {LAST_EVENTS} events, whenever they were recorded (no time window).",
)
def get_last_events_overview(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """GetLastEventsOverview: the last LAST_EVENTS events of the organization in the region.

    Cost: the first LAST_EVENTS entries of audit_event_org_time_idx; with a project, the entries
    walked newest first until LAST_EVENTS of them are the project's.
    """
    query = EventQuery(region=region, recorded_after=EARLIEST, project_id=args["project_id"])
    qs = event_queryset(organization_id=request.organization.pk, query=query, replica=True)
    events = qs.order_by("-recorded_at", "-id")[:LAST_EVENTS]
    return JsonResponse({"last_events": [event_json(e) for e in events]})
