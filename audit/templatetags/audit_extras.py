"""Template filters for the trail: times with their offset, JSON, short ids, counts, and a fast
rendering of long drop-downs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.forms import BoundField
from django.utils import timezone
from django.utils.html import format_html, format_html_join
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
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    if precision == "minutes":
        text = local.strftime("%Y-%m-%d %H:%M")
    elif precision == "ms":
        text = local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    else:
        text = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} {_offset(local)}"


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
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _attrs_html(attrs: dict[str, Any]) -> SafeString:
    """Django's `django/forms/widgets/attrs.html`: True is a bare attribute, False none at all."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value),)
            for name, value in attrs.items()
            if value is not False
        ),
    )


@register.filter
def select_html(field: BoundField) -> SafeString:
    """`{{ field }}` for a drop-down, the same HTML as Django's `select.html`, built in Python.

    Django renders each `<option>` through two template includes, ~40 µs apiece: the Events
    filters' 236 methods cost 10 ms a page. The widget still supplies the context (attributes,
    choices, the selected option), so only the printing changes.
    """
    widget = field.field.widget
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    parts = [format_html('<select name="{}"{}>', context["name"], _attrs_html(context["attrs"]))]
    for group_name, options, _index in context["optgroups"]:
        if group_name:
            parts.append(format_html('\n  <optgroup label="{}">', group_name))
        parts.extend(
            format_html(
                '\n  <option value="{}"{}>{}</option>',
                str(option["value"]),
                _attrs_html(option["attrs"]),
                option["label"],
            )
            for option in options
        )
        if group_name:
            parts.append(mark_safe("\n  </optgroup>"))  # noqa: S308 (a constant)
    parts.append(mark_safe("\n</select>"))  # noqa: S308 (a constant)
    return mark_safe("".join(parts))  # noqa: S308 (format_html escaped every value)
