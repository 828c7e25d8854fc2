"""Inviting while SMTP is down succeeds, and the e-mail goes once SMTP is back (issue 8, #9)."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from audit.services import Actor
from iam import services
from iam.models import Invitation
from iam.services.invitations import _token_hash
from iam.tasks import invitation_email, invitation_emails_sweep
from worker.models import Delivery

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
SMTP_DOWN = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},  # discard: nothing listens
    }
}


def _work() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_inviting_while_smtp_is_down_succeeds_and_the_e_mail_goes_once_smtp_is_back(owner_client, acme):
    with override_settings(TASKS=DATABASE_TASKS, MAILERS=SMTP_DOWN, EMAIL_RETRY_DELAYS=(1,)):
        response = owner_client.post("/iam/users/invite/", {"email": "newcomer@example.org"}, follow=True)
        assert response.status_code == 200
        assert "Invitation sent to newcomer@example.org." in response.content.decode()
        invitation = Invitation.objects.get(email="newcomer@example.org")
        _work()  # SMTP is down: the attempt fails, and a retry is scheduled
        invitation.refresh_from_db()
        assert invitation.notification_status == Delivery.PENDING
        assert invitation.notification_attempts == 1
        assert "ConnectionRefusedError" in invitation.notification_error
        assert mail.outbox == []
    with override_settings(TASKS=DATABASE_TASKS, EMAIL_RETRY_DELAYS=(1,)):  # SMTP is back
        time.sleep(1.1)
        _work()
        _work()
    invitation.refresh_from_db()
    assert invitation.notification_status == Delivery.SENT
    (message,) = mail.outbox
    assert message.to == ["newcomer@example.org"]
    token = re.search(r"/iam/invitations/([^/]+)/", message.body).group(1)
    assert _token_hash(token) == invitation.token_hash
    assert message.extra_headers["Message-ID"] == f"<iam.invitation.{invitation.pk}@localhost>"


@pytest.mark.django_db(transaction=True)
def test_no_task_row_holds_the_invitation_token(acme, owner):
    with override_settings(TASKS=DATABASE_TASKS):
        invitation, token = services.user_invite(
            actor=Actor.of(owner), organization=acme, email="x@example.org"
        )
    (queued,) = DBTaskResult.objects.filter(task_path=invitation_email.module_path)
    assert queued.args_kwargs == {"args": [str(invitation.pk)], "kwargs": {}}
    assert token not in json.dumps(queued.args_kwargs)


@pytest.mark.django_db(transaction=True)
def test_an_invitation_cancelled_before_its_e_mail_went_is_not_sent(acme, owner):
    with override_settings(TASKS=DATABASE_TASKS):
        invitation, _ = services.user_invite(actor=Actor.of(owner), organization=acme, email="x@example.org")
        services.invitation_cancel(actor=Actor.of(owner), invitation=invitation)
        _work()
    invitation.refresh_from_db()
    assert invitation.notification_status == Delivery.CANCELLED
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_sweep_sends_an_invitation_whose_task_was_lost(acme, owner):
    invitation, _ = services.user_invite(actor=Actor.of(owner), organization=acme, email="x@example.org")
    # No on-commit callback ran: the enqueue was lost (the process died right after the commit).
    assert mail.outbox == []
    Invitation.objects.filter(pk=invitation.pk).update(
        notification_due_at=invitation.created_at.replace(year=2020)
    )
    assert invitation_emails_sweep() == 1
    assert len(mail.outbox) == 1
    assert invitation_emails_sweep() == 0
