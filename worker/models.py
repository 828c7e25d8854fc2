from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """A running `db_worker`: it beats every few seconds. A RUNNING task whose worker has stopped
    beating is taken up again by another worker (`worker.services.tasks_reclaim`)."""

    worker_id = models.CharField(max_length=64, primary_key=True)  # django_tasks_db's worker id
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"


class Delivery(models.TextChoices):
    """Where an e-mail stands. `sending` is a claim: one worker is in the SMTP exchange."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    NO_RECIPIENTS = "no_recipients", "No recipient"
    CANCELLED = "cancelled", "Not needed"


class EmailDelivery(models.Model):
    """The state of a row's one e-mail, sent at least once and marked sent only once SMTP took it
    (`worker.delivery`). A send cut short by a crash is tried again with the same Message-ID."""

    notification_status = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    notification_attempts = models.PositiveSmallIntegerField(default=0)
    notification_error = models.TextField(blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    # When the current claim (status `sending`) began; a claim older than the lease was abandoned.
    notification_claimed_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due; a pending e-mail long past it has lost its task (the sweep).
    notification_due_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        indexes = [
            # The sweep: e-mails still to send (few rows), by when they were due.
            models.Index(
                fields=["notification_status", "notification_due_at"],
                condition=Q(notification_status__in=[Delivery.PENDING, Delivery.SENDING]),
                name="%(app_label)s_%(class)s_due_idx",
            ),
        ]
