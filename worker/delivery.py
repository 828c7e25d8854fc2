"""At-least-once e-mail: each row with an `EmailDelivery` state gets its message sent exactly once,
save for one case.

A task claims the row (pending -> sending) in one conditional UPDATE, sends over SMTP, and only
then marks it sent. A worker that dies in between leaves the claim behind; once the claim is older
than the lease, the next attempt takes it over and sends again. So the only duplicate is a resend
after a crash between SMTP's acceptance and the commit of "sent", and it carries the same
Message-ID, which lets mail clients fold the two.

Failures go back to pending with a growing delay, up to MAX_ATTEMPTS, then to failed. The task
reschedules itself (`follow_up`), and a periodic sweep (`deliveries_sweep`, run by every
`db_worker`) enqueues again the rows whose task was lost.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F, Q
from django.tasks import Task
from django.utils import timezone

from worker.models import Delivery, EmailDelivery

logger = logging.getLogger(__name__)


MAX_ATTEMPTS = 5
# Seconds before attempts 2, 3, 4 and 5 (settings.EMAIL_RETRY_DELAYS overrides them).
RETRY_DELAYS = (30, 120, 600, 1800)
# A send takes at most a few SMTP timeouts; a claim older than this was abandoned by a dead worker.
LEASE = 300
# Control characters and Unicode line breaks: none may reach a header (header injection, and
# Django refuses to send a subject with a line break at all).
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def header_safe(text: str) -> str:
    """`text` on one line, fit for a header: control characters become spaces, runs of spaces one."""
    return " ".join(_UNSAFE_IN_HEADER.sub(" ", text).split())


def lease() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "EMAIL_DELIVERY_LEASE", LEASE)))


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    delays = tuple(getattr(settings, "EMAIL_RETRY_DELAYS", RETRY_DELAYS)) or RETRY_DELAYS
    return timedelta(seconds=float(delays[min(max(attempts, 1), len(delays)) - 1]))


def message_id(row: EmailDelivery) -> str:
    """The same Message-ID on every attempt for a row, whichever worker sends it."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "audit-trail.invalid"
    return f"<{row._meta.label_lower}.{row.pk}@{domain}>"


def deliver[M: EmailDelivery](
    model: type[M],
    pk: uuid.UUID | str,
    *,
    compose: Callable[[M], EmailMessage | str],
    sent_fields: Callable[[EmailMessage], dict[str, Any]] | None = None,
    on_sent: Callable[[M, EmailMessage], None] | None = None,
) -> M:
    """Send row `pk`'s e-mail unless it is sent, being sent, or final. Returns the row afterwards.

    `compose` builds the message, or returns a final status (e.g. no recipients) to send nothing.
    `sent_fields` gives more fields to store with "sent"; `on_sent(row, message)` runs once SMTP
    took the message and the row says so (a system event, say). Costs 2 queries, plus SMTP.
    """
    now = timezone.now()
    claimable = Q(notification_status=Delivery.PENDING) | Q(
        notification_status=Delivery.SENDING,
        notification_claimed_at__lte=now - lease(),
        notification_attempts__lt=MAX_ATTEMPTS,
    )
    claimed = (
        model._default_manager.filter(claimable, pk=pk).update(
            notification_status=Delivery.SENDING,
            notification_claimed_at=now,
            notification_attempts=F("notification_attempts") + 1,
        )
        == 1
    )
    row = model._default_manager.get(pk=pk)
    if not claimed:
        return row
    ours = model._default_manager.filter(
        pk=pk, notification_status=Delivery.SENDING, notification_claimed_at=now
    )
    composed = compose(row)
    if isinstance(composed, str):
        ours.update(notification_status=composed, notification_error="")
        row.refresh_from_db()
        return row
    composed.extra_headers["Message-ID"] = message_id(row)
    composed.subject = header_safe(str(composed.subject))
    try:
        composed.send()
    except Exception as exc:  # any delivery failure is recorded on the row and retried
        final = row.notification_attempts >= MAX_ATTEMPTS
        logger.warning(
            "%s %s: e-mail attempt %d failed: %s", model.__name__, pk, row.notification_attempts, exc
        )
        # Only while the claim is still ours: a late failure must not undo another worker's success.
        ours.update(
            notification_status=Delivery.FAILED if final else Delivery.PENDING,
            notification_error=f"{type(exc).__name__}: {exc}"[:1000],
            notification_due_at=now + retry_delay(row.notification_attempts),
        )
    else:
        model._default_manager.filter(pk=pk).update(
            notification_status=Delivery.SENT,
            notification_error="",
            notified_at=timezone.now(),
            **(sent_fields(composed) if sent_fields else {}),
        )
        if on_sent is not None:
            row.refresh_from_db()
            on_sent(row, composed)
    row.refresh_from_db()
    return row


def follow_up(task: Task[..., Any], row: EmailDelivery) -> None:
    """Schedule `task` (which takes the row's id) again for a row whose e-mail is not final yet.

    A pending row runs again when its retry is due; a row that another worker is sending runs
    again when that claim's lease ends, in case the worker died. A backend that cannot defer (the
    immediate one, in tests) retries a pending row at once: the attempts bound the recursion.
    """
    status = row.notification_status
    if status == Delivery.PENDING:
        when: datetime | None = row.notification_due_at
    elif status == Delivery.SENDING and row.notification_claimed_at is not None:
        when = row.notification_claimed_at + lease()
    else:
        return
    if task.get_backend().supports_defer:
        task.using(run_after=when).enqueue(str(row.pk))
    elif status == Delivery.PENDING:
        task.enqueue(str(row.pk))


def deliveries_sweep(model: type[EmailDelivery], task: Task[..., Any], *, limit: int = 100) -> int:
    """Enqueue `task` again for the rows whose e-mail lost its task: pending for a lease past its
    due time, or claimed by a worker for longer than a lease. Returns how many. Idempotent.

    Each row is first moved on in one conditional UPDATE (pending, due now), so that of two
    workers sweeping at once only one enqueues it, and the next sweep leaves it alone for a lease.
    Costs one indexed query, plus one UPDATE and one INSERT per row found.
    """
    now = timezone.now()
    stale = now - lease()
    overdue = Q(notification_status=Delivery.PENDING, notification_due_at__lte=stale) | Q(
        notification_status=Delivery.SENDING, notification_claimed_at__lte=stale
    )
    manager = model._default_manager
    rows = manager.filter(overdue).values_list(
        "pk", "notification_status", "notification_due_at", "notification_claimed_at", "notification_attempts"
    )[:limit]
    count = 0
    for pk, status, due_at, claimed_at, attempts in rows:
        observed = manager.filter(
            pk=pk, notification_status=status, notification_due_at=due_at, notification_claimed_at=claimed_at
        )
        if attempts >= MAX_ATTEMPTS:  # a worker died in the last attempt: give up, visibly
            observed.update(
                notification_status=Delivery.FAILED,
                notification_error=f"No answer after {attempts} attempts: the worker stopped while sending.",
            )
            continue
        if observed.update(notification_status=Delivery.PENDING, notification_due_at=now):
            logger.warning(
                "%s %s: e-mail still %s past its time; enqueued again.", model.__name__, pk, status
            )
            task.enqueue(str(pk))
            count += 1
    return count
