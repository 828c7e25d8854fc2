"""Time as the trail writes it: one ISO 8601 formatter for the wire, event bodies, links and
`<time datetime>`, and the console's human form with its UTC offset."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Literal, overload

from django.utils import timezone

Timespec = Literal["auto", "seconds", "milliseconds", "microseconds"]


@overload
def iso(value: datetime, *, timespec: Timespec = ...) -> str: ...
@overload
def iso(value: None, *, timespec: Timespec = ...) -> None: ...
def iso(value: datetime | None, *, timespec: Timespec = "microseconds") -> str | None:
    """The instant in UTC, RFC 3339 with `Z`: `2026-11-21T09:02:11.000000Z` as Scaleway answers
    (reference §10.5). `timespec="seconds"` for links and `<time>`; "auto" drops zero
    microseconds, as Python's isoformat does. None stays None (an absent optional field)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _offset(value: datetime) -> str:
    """`+01:00`; `+00:09:21` for the odd historical offset with seconds (Paris before 1911)."""
    offset = value.utcoffset()
    return _offset_text(offset) if offset is not None else "+00:00"


@functools.cache
def _offset_text(offset: timedelta) -> str:
    # A zone's offsets are whole seconds, and few: each is worked out once (strftime("%z") for
    # every time on a page was a tenth of the Events table's Python time).
    seconds = int(offset.total_seconds())
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds_left = divmod(rest, 60)
    text = f"{'-' if seconds < 0 else '+'}{hours:02d}:{minutes:02d}"
    return f"{text}:{seconds_left:02d}" if seconds_left else text


def _local(value: datetime) -> datetime:
    """In the active time zone; in UTC when that instant has no local time (before year 1 west of
    Greenwich, after 9999 east of it)."""
    if not timezone.is_aware(value):
        return value
    try:
        return timezone.localtime(value)
    except OverflowError:
        return value.astimezone(UTC)


def utc_offset(value: datetime) -> str:
    """The active time zone's offset at `value`: `+01:00`."""
    return _offset(_local(value))


def with_offset(value: datetime | None, precision: str = "seconds") -> str:
    """`2026-11-21 10:02:11 +01:00` in the active time zone (the user's, or UTC by choice).

    `precision` is "seconds", "minutes" or "ms"; "time" drops the date (`10:02:11 +01:00`).
    Anything but a datetime shows as "".
    """
    if not isinstance(value, datetime):
        return ""
    local = _local(value)
    clock = f"{local.hour:02d}:{local.minute:02d}"  # fields, not strftime: several per row
    if precision == "time":
        return f"{clock}:{local.second:02d} {_offset(local)}"
    # The year with its leading zeros, which strftime drops before 1000.
    day = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    if precision == "minutes":
        text = f"{day} {clock}"
    elif precision == "ms":
        text = f"{day} {clock}:{local.second:02d}.{local.microsecond // 1000:03d}"
    else:
        text = f"{day} {clock}:{local.second:02d}"
    return f"{text} {_offset(local)}"


def ago(value: datetime, now: datetime) -> str:
    """How long before `now` `value` was, as people say it: `just now`, `5 min ago`, `3 h ago`,
    `2 d ago` (`in 2 min` for a clock ahead of ours). Whole units, rounded down."""
    seconds = int((now - value).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"  # unreachable: seconds >= 60 here
