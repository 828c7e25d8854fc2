"""Paging primitives more than one app pages with: the keyset page over a trail ordered by
(recorded_at, id), which the Events page, ListEvents and the IAM logs share, and the clamped
table paging of the console's other lists."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

MAX_INDEX = 10**12  # a row's place in a list: far past any trail, and no bigger than it needs

# A page holds rows of a trail, `Row`: any model with `recorded_at` and a UUID `id` (events, sign-ins).
Order = Literal["desc", "asc"]

# --- keyset pagination -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in a (recorded_at, id) ordering. `newer` pages walk back toward the top.

    `index` is the row's place in the list (0 for the first row), when known: it lets a page say
    "Events 51–100" without counting the rows before it. Tokens without it stay valid.
    """

    recorded_at: datetime
    id: uuid.UUID
    newer: bool = False
    index: int | None = None

    @classmethod
    def of(cls, row: Model, *, newer: bool = False, index: int | None = None) -> Cursor:
        """The position of `row`, a model with `recorded_at` and `id`."""
        return cls(row.recorded_at, row.id, newer, index)  # type: ignore[attr-defined]  # any trail row

    def encode(self) -> str:
        fields: list[object] = [self.recorded_at.isoformat(), str(self.id), int(self.newer)]
        if self.index is not None:
            fields.append(self.index)
        raw = json.dumps(fields).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Raises ValueError on anything that is not a token we issued."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, pk, newer, *rest = json.loads(raw)
            recorded_at = parse_datetime(at)
            if recorded_at is None or recorded_at.tzinfo is None or len(rest) > 1:
                raise ValueError
            index = rest[0] if rest else None
            if index is not None and (type(index) is not int or not 0 <= index < MAX_INDEX):
                raise ValueError
            # In UTC: PostgreSQL refuses offsets beyond ±15:59, which a forged token may carry.
            return cls(recorded_at.astimezone(UTC), uuid.UUID(pk), bool(newer), index)
        except (ValueError, TypeError, OverflowError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError("Invalid page token.") from exc


@dataclass
class EventPage[Row: Model]:
    events: list[Row]
    next_cursor: Cursor | None = None  # further in the chosen order (older when desc)
    previous_cursor: Cursor | None = None  # back toward the first page
    has_more: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    start: int | None = None  # the first row's place in the list (0-based), when the cursor knew it

    @property
    def first_number(self) -> int | None:
        """1-based number of the first row (`51` of "Events 51–100"), or None when unknown."""
        return None if self.start is None or not self.events else self.start + 1

    @property
    def last_number(self) -> int | None:
        return None if self.start is None or not self.events else self.start + len(self.events)


def _after[Row: Model](qs: QuerySet[Row], cursor: Cursor, ascending: bool) -> QuerySet[Row]:
    # The redundant bound on recorded_at turns the OR into an index range and prunes partitions.
    if ascending:
        return qs.filter(recorded_at__gte=cursor.recorded_at).filter(
            Q(recorded_at__gt=cursor.recorded_at) | Q(recorded_at=cursor.recorded_at, id__gt=cursor.id)
        )
    return qs.filter(recorded_at__lte=cursor.recorded_at).filter(
        Q(recorded_at__lt=cursor.recorded_at) | Q(recorded_at=cursor.recorded_at, id__lt=cursor.id)
    )


def event_page[Row: Model](
    qs: QuerySet[Row],
    *,
    order: Order = "desc",
    cursor: Cursor | None = None,
    page_size: int = 50,
    numbered: bool = False,
) -> EventPage[Row]:
    """One keyset page of `qs` (never OFFSET): one query of page_size + 1 rows.

    A cursor with `newer=True` fetches the page just before it (toward the first page) by walking
    the reverse order, then flips the rows back. `numbered` pages know their place in the list
    (`start`), and so do the cursors they hand out; others' tokens stay as they were.
    """
    ascending = order == "asc"
    walk_ascending = ascending != bool(cursor and cursor.newer)
    ordering = ["recorded_at", "id"] if walk_ascending else ["-recorded_at", "-id"]
    if cursor is not None:
        qs = _after(qs, cursor, walk_ascending)
    rows = list(qs.order_by(*ordering)[: page_size + 1])
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    # Where the page starts in the list: each cursor carries its row's place (`index`), so going
    # older adds and going back subtracts, with no count of the rows before.
    start: int | None
    if not numbered:
        start = None
    elif cursor is None:
        start = 0
    elif cursor.index is None:
        start = None
    elif cursor.newer:
        # Back at the top when nothing is newer (rows recorded since then shift it), else just before.
        start = max(cursor.index - len(rows), 0) if has_more else 0
    else:
        start = cursor.index + 1

    def at(offset: int) -> int | None:
        return None if start is None else start + offset

    if cursor is not None and cursor.newer:
        rows.reverse()
        # Walking back: there is always an older page (where we came from); a newer one if rows remain.
        next_cursor = Cursor.of(rows[-1], index=at(len(rows) - 1)) if rows else None
        previous_cursor = Cursor.of(rows[0], newer=True, index=at(0)) if rows and has_more else None
        return EventPage(rows, next_cursor, previous_cursor, has_more=True, start=start)
    next_cursor = Cursor.of(rows[-1], index=at(len(rows) - 1)) if rows and has_more else None
    previous_cursor = Cursor.of(rows[0], newer=True, index=at(0)) if rows and cursor is not None else None
    return EventPage(rows, next_cursor, previous_cursor, has_more=has_more, start=start)


# --- table paging ------------------------------------------------------------------------------

MAX_PER_PAGE = 100


def paginate_table(
    request: HttpRequest, table: Any, *, per_page: int, max_per_page: int = MAX_PER_PAGE
) -> Any:
    """django-tables2's RequestConfig, minus its trust in the query: `per_page` is clamped to
    1..max_per_page (a value that is not a whole number means `per_page`), and a page number out
    of range or not a number shows the nearest page. Sorting comes from the query as usual; the
    table's columns decide what is orderable."""
    table.request = request
    # Only the table's own orderable columns: anything else is ignored, not handed to the table.
    orderable = {column.name for column in table.columns if column.orderable}
    order_by = [
        name
        for value in request.GET.getlist(table.prefixed_order_by_field)
        for name in value.split(",")
        if name.removeprefix("-") in orderable
    ]
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
