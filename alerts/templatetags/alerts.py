from __future__ import annotations

from django import template

from alerts.models import Alert
from alerts.notifications import alert_events_path as events_path

register = template.Library()


@register.simple_tag
def alert_events_path(alert: Alert) -> str:
    """The Events page filtered to exactly the events behind `alert`."""
    return events_path(alert)
