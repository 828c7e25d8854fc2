"""Template filters for the trail: times with their offset, JSON, short ids and counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Beyond this, the page says "1,000+" rather than count every matching row.
COUNT_CAP = 1000


def _offset(value: datetime) -> str:
    offset = value.strftime("%z")  # "+0100"
    return f"{offset[:3]}:{offset[3:]}" if offset else "+00:00"


@register.filter
def with_offset(value: datetime | None, precision: str = "seconds") -> str:
    """`2026-11-21 10:02:11 +01:00` in the active time zone (the user's, or UTC by choice).

    `precision` is "seconds", "minutes" or "ms".
    """
    if not isinstance(value, datetime):
        return ""
    local = _local(value)
    # The year by hand: strftime drops the leading zeros of years before 1000.
    if precision == "minutes":
        text = f"{local.year:04d}-" + local.strftime("%m-%d %H:%M")
    elif precision == "ms":
        text = f"{local.year:04d}-" + local.strftime("%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    else:
        text = f"{local.year:04d}-" + local.strftime("%m-%d %H:%M:%S")
    return f"{text} {_offset(local)}"


def _local(value: datetime) -> datetime:
    """In the active time zone; in UTC when that instant has no local time (before year 1 west of
    Greenwich, after 9999 east of it)."""
    if not timezone.is_aware(value):
        return value
    try:
        return timezone.localtime(value)
    except OverflowError:
        return value.astimezone(UTC)


@register.filter
def utc_time(value: datetime | None) -> str:
    """`09:02:11 UTC`, the instant as UTC wall-clock time."""
    if not isinstance(value, datetime):
        return ""
    return value.astimezone(UTC).strftime("%H:%M:%S UTC")


@register.filter
def iso_utc(value: datetime | None) -> str:
    """Machine-readable instant for `<time datetime>` and for links: `2026-11-21T09:02:11Z`."""
    if not isinstance(value, datetime):
        return ""
    value = value.astimezone(UTC)
    return f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%SZ")


_STATUS_BADGES = {
    200: mark_safe('<span class="badge badge-success">200 Successful</span>'),  # noqa: S308 (a constant)
    403: mark_safe('<span class="badge badge-danger">403 Forbidden</span>'),  # noqa: S308 (a constant)
}


@register.filter
def status_badge(event: Any) -> SafeString:
    """An event's status as a badge: green 200, red 403, amber for anything else."""
    return _STATUS_BADGES.get(event.status_code) or format_html(
        '<span class="badge badge-warning">{} {}</span>', event.status_code, event.status_label
    )


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def short_id(value: Any, length: int = 8) -> str:
    text = str(value or "")
    return text if len(text) <= length else f"{text[:length]}…"


@register.filter
def count_label(value: int) -> str:
    """`42` or `1,000+`: past the cap, an exact count is not worth what it costs."""
    return f"{COUNT_CAP:,}+" if value > COUNT_CAP else f"{value:,}"


@register.filter
def duration_label(value: timedelta) -> str:
    """`minute`, `5 minutes`, `hour`, `3 hours`, `day`, `2 days`: a timeline bucket's width."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"
