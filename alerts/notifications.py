"""Alert e-mails: one message per fired alert, to every Security contact of the organization."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from alerts.models import CUSTOM_PREFIX, Alert, NotificationContact
from alerts.rules import PRECONFIGURED_BY_NAME, Rule, Severity
from audit.models import SystemEvent
from audit.services import record_system
from worker.delivery import MAX_ATTEMPTS as MAX_ATTEMPTS  # how often an alert e-mail is tried
from worker.delivery import deliver, header_safe


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
    # The window exactly as stored, offset and all: the Events page reads any RFC 3339 instant.
    window = (alert.window_start.astimezone(UTC).isoformat(), alert.window_end.astimezone(UTC).isoformat())
    params = {"region": alert.region, "after": window[0], "before": window[1]}
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
    subject = header_safe(
        f"[Audit Trail] {context['severity']}: {alert.rule_name} in {alert.organization.name} ({alert.region})"
    )
    return AlertEmail(
        subject=subject,
        text=render_to_string("alerts/email/alert.txt", context),
        html=render_to_string("alerts/email/alert.html", context),
    )


def _compose(alert: Alert) -> EmailMultiAlternatives | str:
    recipients = list(
        NotificationContact.objects.filter(organization_id=alert.organization_id, security=True)
        .order_by("email")
        .values_list("email", flat=True)
    )
    if not recipients:
        return Alert.Notification.NO_RECIPIENTS
    email = alert_email(alert)
    message = EmailMultiAlternatives(email.subject, email.text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(email.html, "text/html")
    return message


def alert_notification_send(*, alert_id: uuid.UUID | str) -> Alert:
    """Send an alert's e-mail to the organization's Security contacts, once. Returns the alert.

    `worker.delivery.deliver` claims it (pending -> sending) in one conditional UPDATE, so two
    workers never send it at once, and marks it sent only once SMTP took it. A failed delivery goes
    back to pending until MAX_ATTEMPTS, then to failed; the caller (the task) schedules the retry.
    """
    return deliver(
        Alert,
        alert_id,
        compose=_compose,
        sent_fields=lambda message: {"recipients": list(message.to)},
        on_sent=_record_sent,
    )


def _record_sent(alert: Alert, message: EmailMessage) -> None:
    """The e-mail SMTP took, as a system event (`notification`) of the alert's organization."""
    preconfigured = PRECONFIGURED_BY_NAME.get(alert.rule_key)
    rule_id = alert.custom_rule_id or (preconfigured.id if preconfigured else alert.rule_key)
    record_system(
        organization_id=alert.organization_id,
        kind=SystemEvent.Kind.NOTIFICATION,
        system_name=f"AlertEmail {alert.rule_name}"[:128],
        source="audit-trail-alerting",
        locality=alert.region,
        resources=[
            {
                "id": str(rule_id)[:200],
                "type": "audit_trail_custom_alert_rule" if alert.custom_rule_id else "audit_trail_alert_rule",
                "name": alert.rule_name,
                "action": "notify",
            }
        ],
    )
