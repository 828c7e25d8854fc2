"""Alert e-mails: one message per fired alert, to every Security contact of the organization."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from alerts.models import CUSTOM_PREFIX, Alert, NotificationContact
from alerts.rules import PRECONFIGURED_BY_NAME, Rule, Severity

logger = logging.getLogger(__name__)

# Delivery is tried this many times, with a growing delay, before the alert shows "Failed".
MAX_ATTEMPTS = 5
RETRY_DELAYS = (30, 120, 600, 1800)  # seconds before attempts 2, 3, 4, 5


def _iso(value: object) -> str:
    return value.astimezone(UTC).isoformat()  # type: ignore[attr-defined]


def alert_rule(alert: Alert) -> Rule | None:
    """The rule an alert came from, if it still exists (a custom rule may have been deleted)."""
    if alert.rule_key.startswith(CUSTOM_PREFIX):
        custom = alert.custom_rule
        try:
            return custom.rule if custom is not None else None
        except ValueError:
            return None
    return PRECONFIGURED_BY_NAME.get(alert.rule_key)


def alert_events_query(alert: Alert) -> str:
    """The Events page's query string for the events behind an alert: its window and its filters."""
    rule = alert_rule(alert)
    params = {"region": alert.region, "after": _iso(alert.window_start), "before": _iso(alert.window_end)}
    if rule is not None:
        params.update(rule.link_params)
    return urlencode(params)


def alert_events_path(alert: Alert) -> str:
    return f"{reverse('audit:events')}?{alert_events_query(alert)}"


def alert_events_url(alert: Alert) -> str:
    return f"{settings.SITE_URL}{alert_events_path(alert)}"


@dataclass(frozen=True)
class AlertEmail:
    subject: str
    text: str
    html: str


def alert_email(alert: Alert) -> AlertEmail:
    rule = alert_rule(alert)
    context = {
        "alert": alert,
        "organization": alert.organization,
        "fired_at_utc": alert.fired_at.astimezone(UTC),
        "window_start_utc": alert.window_start.astimezone(UTC),
        "window_end_utc": alert.window_end.astimezone(UTC),
        "behaviour": rule.behaviour if rule else f"The rule {alert.rule_name} fired.",
        "description": getattr(rule, "description", ""),
        "severity": Severity.LABELS.get(alert.severity, alert.severity),
        "recommended_actions": rule.recommended_actions if rule else (),
        "events_url": alert_events_url(alert),
        "alerting_url": f"{settings.SITE_URL}{reverse('alerts:management')}?region={alert.region}",
    }
    subject = f"[Audit Trail] {context['severity']}: {alert.rule_name} in {alert.organization.name} ({alert.region})"
    return AlertEmail(
        subject=subject,
        text=render_to_string("alerts/email/alert.txt", context),
        html=render_to_string("alerts/email/alert.html", context),
    )


def alert_notification_send(*, alert_id: uuid.UUID | str) -> str:
    """Send an alert's e-mail, once. Returns the alert's notification status afterwards.

    The alert is claimed (pending -> sending) by one conditional UPDATE, so two workers never send
    it twice. A failed delivery goes back to pending with its error until MAX_ATTEMPTS, then to
    failed; the caller (the task) schedules the retry.
    """
    claimed = Alert.objects.filter(pk=alert_id, notification_status=Alert.Notification.PENDING).update(
        notification_status=Alert.Notification.SENDING, notification_attempts=F("notification_attempts") + 1
    )
    alert = Alert.objects.select_related("organization", "custom_rule").get(pk=alert_id)
    if not claimed:
        return alert.notification_status
    recipients = list(
        NotificationContact.objects.filter(organization_id=alert.organization_id, security=True)
        .order_by("email")
        .values_list("email", flat=True)
    )
    if not recipients:
        Alert.objects.filter(pk=alert.pk).update(
            notification_status=Alert.Notification.NO_RECIPIENTS, notification_error=""
        )
        return Alert.Notification.NO_RECIPIENTS
    email = alert_email(alert)
    message = EmailMultiAlternatives(email.subject, email.text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(email.html, "text/html")
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - any delivery failure is recorded on the alert and retried
        status = (
            Alert.Notification.FAILED
            if alert.notification_attempts >= MAX_ATTEMPTS
            else Alert.Notification.PENDING
        )
        logger.warning("Alert %s: e-mail attempt %d failed: %s", alert.pk, alert.notification_attempts, exc)
        Alert.objects.filter(pk=alert.pk).update(
            notification_status=status, notification_error=f"{type(exc).__name__}: {exc}"[:1000]
        )
        return status
    Alert.objects.filter(pk=alert.pk).update(
        notification_status=Alert.Notification.SENT,
        notification_error="",
        notified_at=timezone.now(),
        recipients=recipients,
    )
    return Alert.Notification.SENT
