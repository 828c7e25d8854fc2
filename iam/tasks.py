"""Background work of IAM. Every task may run twice (a worker killed mid-task has its tasks run
again): all are idempotent."""

from __future__ import annotations

from django.tasks import task

from iam.models import Invitation
from iam.services import invitation_email_send
from worker.delivery import deliveries_sweep, follow_up


@task(priority=10)  # e-mails pass before queued evaluations, as alert e-mails do
def invitation_email(invitation_id: str) -> str:
    """E-mail an invitation's link; until it is sent or failed for good, run again later."""
    invitation = invitation_email_send(invitation_id=invitation_id)
    follow_up(invitation_email, invitation)
    return invitation.notification_status


def invitation_emails_sweep() -> int:
    """Enqueue again the invitation e-mails whose task was lost (a step of every db_worker's loop)."""
    return deliveries_sweep(Invitation, invitation_email)
