"""Every alert e-mail ends up sent exactly once, even when a worker dies mid-send (issue 8, #3).

The only duplicate allowed is a resend after a crash between SMTP's acceptance and the commit of
"sent", and it carries the same Message-ID.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from alerts.models import Alert
from alerts.tasks import alert_notifications_sweep, alert_notify
from worker.delivery import LEASE, deliveries_sweep, message_id

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(seconds=LEASE + 60)


def _alert(organization, **state) -> Alert:
    now = timezone.now()
    return Alert.objects.create(
        organization=organization,
        region="fr-par",
        rule_key="ApiKeyCreated",
        rule_name="ApiKeyCreated",
        severity="warning",
        window_start=now,
        window_end=now,
        matched_count=1,
        trigger_event_id=uuid.uuid4(),
        **state,
    )


def test_an_alert_e_mail_carries_a_message_id_that_every_attempt_shares(acme, security_contact):
    alert = _alert(acme)
    alert_notify.enqueue(str(alert.pk))
    (message,) = mail.outbox
    assert message.extra_headers["Message-ID"] == message_id(alert) == f"<alerts.alert.{alert.pk}@localhost>"
    assert message.message()["Message-ID"] == message_id(alert)


def test_an_e_mail_left_sending_by_a_dead_worker_is_sent_once_the_lease_is_over(acme, security_contact):
    alert = _alert(
        acme,
        notification_status=Alert.Notification.SENDING,
        notification_claimed_at=timezone.now() - LONG_AGO,
        notification_attempts=1,
    )
    alert_notify.enqueue(str(alert.pk))  # the task, taken up again after its worker died
    alert.refresh_from_db()
    assert alert.notification_status == Alert.Notification.SENT
    assert alert.notification_attempts == 2
    assert len(mail.outbox) == 1
    alert_notify.enqueue(str(alert.pk))
    assert len(mail.outbox) == 1


def test_an_e_mail_another_worker_is_sending_is_left_to_it(acme, security_contact):
    alert = _alert(
        acme, notification_status=Alert.Notification.SENDING, notification_claimed_at=timezone.now()
    )
    assert alert_notify.enqueue(str(alert.pk)).return_value == Alert.Notification.SENDING
    assert mail.outbox == []


def test_the_sweep_sends_the_e_mails_whose_task_was_lost_and_only_those(acme, security_contact):
    lost = _alert(acme, notification_due_at=timezone.now() - LONG_AGO)  # its enqueue never happened
    half_sent = _alert(
        acme,
        notification_status=Alert.Notification.SENDING,
        notification_claimed_at=timezone.now() - LONG_AGO,
        notification_attempts=1,
    )
    waiting = _alert(acme)  # its task is in the queue, not late yet
    retrying = _alert(acme, notification_due_at=timezone.now() + timedelta(minutes=2))
    sent = _alert(
        acme, notification_status=Alert.Notification.SENT, notification_due_at=timezone.now() - LONG_AGO
    )

    assert alert_notifications_sweep() == 2  # the immediate backend sends them at once
    statuses = dict(Alert.objects.values_list("pk", "notification_status"))
    assert statuses[lost.pk] == statuses[half_sent.pk] == Alert.Notification.SENT
    assert statuses[waiting.pk] == statuses[retrying.pk] == Alert.Notification.PENDING
    assert statuses[sent.pk] == Alert.Notification.SENT
    assert sorted(m.extra_headers["Message-ID"] for m in mail.outbox) == sorted(
        [message_id(lost), message_id(half_sent)]
    )
    assert alert_notifications_sweep() == 0


def test_the_sweep_enqueues_a_lost_e_mail_once_however_many_workers_sweep(acme, security_contact):
    _alert(acme, notification_due_at=timezone.now() - LONG_AGO)
    database = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=database):
        assert deliveries_sweep(Alert, alert_notify) == 1
        assert deliveries_sweep(Alert, alert_notify) == 0  # the next sweep leaves it to that task
    assert DBTaskResult.objects.filter(task_path=alert_notify.module_path).count() == 1


def test_a_worker_that_died_in_the_last_attempt_leaves_a_visible_failure(acme, security_contact):
    alert = _alert(
        acme,
        notification_status=Alert.Notification.SENDING,
        notification_claimed_at=timezone.now() - LONG_AGO,
        notification_attempts=5,
    )
    alert_notify.enqueue(str(alert.pk))
    alert_notifications_sweep()
    alert.refresh_from_db()
    assert alert.notification_status == Alert.Notification.FAILED
    assert "the worker stopped while sending" in alert.notification_error
    assert mail.outbox == []
