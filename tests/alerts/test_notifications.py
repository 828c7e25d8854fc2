from __future__ import annotations

import email
import socket
from email import policy
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from alerts.models import Alert
from alerts.notifications import MAX_ATTEMPTS
from audit.services import Actor
from iam.services import api_key_create
from tests.alerts.conftest import activate


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
    try:
        with override_settings(MAILERS=smtp):
            yield inbox
    finally:
        controller.stop()


@pytest.mark.django_db
def test_creating_an_api_key_sends_one_email_over_smtp_to_the_security_contact_only(
    acme, owner, security_contact, billing_contact, smtp_server, django_capture_on_commit_callbacks
):
    activate(acme, "ApiKeyCreated")
    with django_capture_on_commit_callbacks(execute=True):
        key, _ = api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="deploy")

    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert recipients == ["sec@acme.test"]
    assert "billing@acme.test" not in str(message)
    assert "ApiKeyCreated" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    alert = Alert.objects.get(organization=acme)
    assert "Severity: Warning" in text
    assert "A new API key was created." in text and "A new API key was created." in html
    assert "delete it in IAM &gt; API keys" in html and "delete it in IAM > API keys" in text
    assert f"Fired at: {alert.fired_at:%Y-%m-%d %H:%M:%S} UTC" in text
    # The link opens the Events page on exactly the alert's window and the rule's events.
    link = next(line for line in text.splitlines() if "/audit-trail/events/?" in line).strip()
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/audit-trail/events/"
    assert query["region"] == ["fr-par"]
    assert query["method"] == ["CreateAPIKey"] and query["status"] == ["200"] and query["product"] == ["iam"]
    assert query["after"] == [alert.window_start.isoformat()] == query["before"]
    assert alert.notification_status == Alert.Notification.SENT
    assert alert.recipients == ["sec@acme.test"]
    assert alert.notification_attempts == 1


@pytest.mark.django_db
def test_a_failing_smtp_server_is_retried_a_bounded_number_of_times_and_the_failure_shows(
    acme, owner, security_contact, django_capture_on_commit_callbacks
):
    refused = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _free_port(), "timeout": 2},
        }
    }
    activate(acme, "ApiKeyCreated")
    with override_settings(MAILERS=refused), django_capture_on_commit_callbacks(execute=True):
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="deploy")
    alert = Alert.objects.get(organization=acme)
    assert alert.notification_status == Alert.Notification.FAILED
    assert alert.notification_attempts == MAX_ATTEMPTS
    assert "ConnectionRefusedError" in alert.notification_error


@pytest.mark.django_db
def test_an_alert_e_mail_is_never_sent_twice(
    acme, owner, security_contact, django_capture_on_commit_callbacks
):
    from alerts.tasks import alert_notify

    activate(acme, "ApiKeyCreated")
    with django_capture_on_commit_callbacks(execute=True):
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="deploy")
    alert = Alert.objects.get(organization=acme)
    alert_notify.enqueue(str(alert.pk))
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_database_worker_runs_queued_evaluation_and_notification_tasks(acme, owner, security_contact):
    from django_tasks_db.models import DBTaskResult

    activate(acme, "ApiKeyCreated")
    database_tasks = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=database_tasks):
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="deploy")
        assert DBTaskResult.objects.count() == 1  # queued, not run
        assert not Alert.objects.exists()
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload")
    alert = Alert.objects.get(organization=acme)
    assert alert.rule_key == "ApiKeyCreated"
    assert alert.notification_status == Alert.Notification.SENT
    assert len(mail.outbox) == 1
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}
