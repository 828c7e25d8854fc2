"""Reads of the trail. Every one starts from an organization and a region.

The Events page and the ListEvents API share `EventQuery`, `event_queryset` and `event_page`, so
the console and the SDK see the same events in the same order.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.models import Event

Order = Literal["desc", "asc"]
DEFAULT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class EventQuery:
    """Filters over one organization's events in one region. None means "no filter"."""

    region: str
    recorded_after: datetime | None = None
    recorded_before: datetime | None = None
    project_id: uuid.UUID | None = None
    product_name: str | None = None
    service_name: str | None = None
    method_name: str | None = None
    status: int | None = None
    principal_id: uuid.UUID | None = None
    source_ip: str | None = None  # an address or a CIDR network
    resource_type: str | None = None
    resource_id: str | None = None
    text: str | None = None

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The time range, with Scaleway's defaults: the last hour, up to now."""
        now = now or timezone.now()
        before = self.recorded_before or now
        after = self.recorded_after or (before - DEFAULT_WINDOW)
        return after, before


def event_queryset(
    *, organization_id: uuid.UUID, query: EventQuery, now: datetime | None = None
) -> QuerySet[Event]:
    """The organization's events matching `query`, unordered. Index-driven on (org, region, time)."""
    after, before = query.window(now)
    qs = Event.objects.filter(
        organization_id=organization_id, region=query.region, recorded_at__gte=after, recorded_at__lte=before
    )
    if query.project_id:
        qs = qs.filter(project_id=query.project_id)
    if query.product_name:
        qs = qs.filter(product_name=query.product_name)
    if query.service_name:
        qs = qs.filter(service_name=query.service_name)
    if query.method_name:
        qs = qs.filter(method_name=query.method_name)
    if query.status:
        qs = qs.filter(status_code=query.status)
    if query.principal_id:
        qs = qs.filter(principal_id=query.principal_id)
    if query.source_ip:
        network = ipaddress.ip_network(query.source_ip, strict=False)
        if network.num_addresses == 1:
            qs = qs.filter(source_ip=str(network.network_address))
        else:
            qs = qs.filter(source_ip__in_network=str(network))
    if query.resource_type or query.resource_id:
        item = {}
        if query.resource_type:
            item["type"] = query.resource_type
        if query.resource_id:
            item["id"] = query.resource_id
        qs = qs.filter(resources__has_item=item)
    if query.text:
        text = query.text.strip()
        qs = qs.annotate(resources_text=Cast("resources", TextField())).filter(
            Q(method_name__icontains=text)
            | Q(principal_name__icontains=text)
            | Q(resources_text__icontains=text)
        )
    return qs


# --- keyset pagination -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in a (recorded_at, id) ordering. `newer` pages walk back toward the top."""

    recorded_at: datetime
    id: uuid.UUID
    newer: bool = False

    def encode(self) -> str:
        raw = json.dumps([self.recorded_at.isoformat(), str(self.id), int(self.newer)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Raises ValueError on anything that is not a token we issued."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, pk, newer = json.loads(raw)
            recorded_at = parse_datetime(at)
            if recorded_at is None or recorded_at.tzinfo is None:
                raise ValueError
            return cls(recorded_at, uuid.UUID(pk), bool(newer))
        except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError("Invalid page token.") from exc


@dataclass
class EventPage:
    events: list[Event]
    next_cursor: Cursor | None = None  # further in the chosen order (older when desc)
    previous_cursor: Cursor | None = None  # back toward the first page
    has_more: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def _after(qs: QuerySet[Event], cursor: Cursor, ascending: bool) -> QuerySet[Event]:
    # The redundant bound on recorded_at turns the OR into an index range and prunes partitions.
    if ascending:
        return qs.filter(recorded_at__gte=cursor.recorded_at).filter(
            Q(recorded_at__gt=cursor.recorded_at) | Q(recorded_at=cursor.recorded_at, id__gt=cursor.id)
        )
    return qs.filter(recorded_at__lte=cursor.recorded_at).filter(
        Q(recorded_at__lt=cursor.recorded_at) | Q(recorded_at=cursor.recorded_at, id__lt=cursor.id)
    )


def event_page(
    qs: QuerySet[Event], *, order: Order = "desc", cursor: Cursor | None = None, page_size: int = 50
) -> EventPage:
    """One keyset page of `qs` (never OFFSET): one query of page_size + 1 rows.

    A cursor with `newer=True` fetches the page just before it (toward the first page) by walking
    the reverse order, then flips the rows back.
    """
    ascending = order == "asc"
    walk_ascending = ascending != bool(cursor and cursor.newer)
    ordering = ["recorded_at", "id"] if walk_ascending else ["-recorded_at", "-id"]
    if cursor is not None:
        qs = _after(qs, cursor, walk_ascending)
    rows = list(qs.order_by(*ordering)[: page_size + 1])
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if cursor is not None and cursor.newer:
        rows.reverse()
        # Walking back: there is always an older page (where we came from); a newer one if rows remain.
        next_cursor = Cursor(rows[-1].recorded_at, rows[-1].id) if rows else None
        previous_cursor = Cursor(rows[0].recorded_at, rows[0].id, newer=True) if rows and has_more else None
        return EventPage(rows, next_cursor, previous_cursor, has_more=True)
    next_cursor = Cursor(rows[-1].recorded_at, rows[-1].id) if rows and has_more else None
    previous_cursor = (
        Cursor(rows[0].recorded_at, rows[0].id, newer=True) if rows and cursor is not None else None
    )
    return EventPage(rows, next_cursor, previous_cursor, has_more=has_more)
