"""Faults with real processes (issue 8: "Faults, with real processes"; defects #3 and #9).

Each test runs `manage.py db_worker` as a subprocess against pytest's test database, and a real
SMTP server, then kills the worker with SIGKILL at the worst moment or takes SMTP away, and
checks that every alert and invitation e-mail still arrives, exactly once.
"""

from __future__ import annotations

import time

import pytest
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from alerts.models import Alert, AlertRuleSetting, NotificationContact
from alerts.tasks import alert_notify, alerts_evaluate_task
from audit.services import Actor
from iam.models import Invitation
from iam.services import api_key_create, user_invite
from tests.faults.conftest import wait_for
from worker.delivery import message_id
from worker.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alerting(acme):
    """Acme alerts on new API keys and has a Security contact."""
    AlertRuleSetting.objects.create(
        organization=acme, region="fr-par", rule_name="ApiKeyCreated", enabled=True
    )
    NotificationContact.objects.create(organization=acme, email="sec@acme.test", security=True)
    return acme


def _create_api_key(organization, owner) -> None:
    api_key_create(actor=Actor.of(owner), organization=organization, user=owner, description="deploy")


def _sent(model=Alert) -> bool:
    return model.objects.filter(notification_status=Delivery.SENT).exists()


def _task(task) -> DBTaskResult:
    return DBTaskResult.objects.get(task_path=task.module_path)


def test_a_worker_killed_mid_evaluation_is_taken_up_and_the_alert_is_sent_once(
    alerting, owner, smtp, workers, tmp_path
):
    smtp.start()
    evaluating = tmp_path / "evaluating"
    first = workers.start("first", FAULT_HANG_ON_ALERT_SAVE=str(evaluating))
    _create_api_key(alerting, owner)
    wait_for(evaluating.exists, what="the worker to be saving the alert")
    workers.kill(first)
    assert not Alert.objects.exists()  # its transaction died with it
    assert _task(alerts_evaluate_task).status == TaskResultStatus.RUNNING

    # Two workers start at once: one takes the task up, neither runs it twice.
    workers.start("second")
    workers.start("third")
    wait_for(_sent, what="the alert to be sent")
    time.sleep(1.5)  # time enough for any duplicate to arrive
    alert = Alert.objects.get()
    assert smtp.inbox.message_ids() == [message_id(alert)]
    evaluation = _task(alerts_evaluate_task)
    assert evaluation.status == TaskResultStatus.SUCCESSFUL
    assert evaluation.worker_ids[0] == "first" and len(evaluation.worker_ids) == 2


def test_a_worker_killed_mid_smtp_exchange_is_taken_up_and_the_alert_is_sent_once(
    alerting, owner, smtp, workers
):
    smtp.inbox.hang = True  # the server holds the DATA command: the worker is mid-send
    smtp.start()
    first = workers.start("first")
    _create_api_key(alerting, owner)
    wait_for(smtp.inbox.entered.is_set, what="the worker to be in the SMTP exchange")
    workers.kill(first)
    smtp.inbox.hang = False
    smtp.inbox.release.set()  # the dead worker's session ends with 451: nothing was delivered
    alert = Alert.objects.get()
    assert alert.notification_status == Delivery.SENDING
    assert _task(alert_notify).status == TaskResultStatus.RUNNING

    workers.start("second")
    wait_for(_sent, what="the alert to be sent")
    time.sleep(1.5)
    assert smtp.inbox.message_ids() == [message_id(alert)]
    alert.refresh_from_db()
    assert alert.notification_attempts == 2
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).exists()


def test_a_resend_after_smtp_accepted_but_before_sent_was_recorded_carries_the_same_message_id(
    alerting, owner, smtp, workers
):
    """The one duplicate at-least-once allows: mail clients fold it by its Message-ID."""
    smtp.inbox.accept_then_hang = True
    smtp.start()
    first = workers.start("first")
    _create_api_key(alerting, owner)
    wait_for(smtp.inbox.entered.is_set, what="the worker to be waiting for SMTP's 250")
    workers.kill(first)
    smtp.inbox.accept_then_hang = False
    smtp.inbox.release.set()

    workers.start("second")
    wait_for(_sent, what="the alert to be sent")
    time.sleep(1.5)
    alert = Alert.objects.get()
    assert smtp.inbox.message_ids() == [message_id(alert)] * 2


def test_smtp_down_then_back_delivers_the_alert_and_the_invitation_once_each(alerting, owner, smtp, workers):
    workers.start("worker")  # SMTP is down: nothing listens on its port yet
    _create_api_key(alerting, owner)
    invitation, _ = user_invite(actor=Actor.of(owner), organization=alerting, email="new@example.org")
    wait_for(
        lambda: (
            Alert.objects.filter(notification_attempts__gte=1, notification_status=Delivery.PENDING).exists()
            and Invitation.objects.filter(
                notification_attempts__gte=1, notification_status=Delivery.PENDING
            ).exists()
        ),
        what="both e-mails to have failed once",
    )
    assert "ConnectionRefusedError" in Alert.objects.get().notification_error

    smtp.start()
    wait_for(lambda: _sent(Alert) and _sent(Invitation), what="both e-mails to be sent")
    time.sleep(2.5)  # past a retry delay: no second copy
    alert = Alert.objects.get()
    invitation.refresh_from_db()
    assert sorted(smtp.inbox.message_ids()) == sorted([message_id(alert), message_id(invitation)])
    assert sorted(str(m["To"]) for m in smtp.inbox.messages) == ["new@example.org", "sec@acme.test"]
