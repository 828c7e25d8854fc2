"""Background work of alerting. Both tasks may run twice: both are idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from alerts.models import Alert
from alerts.notifications import MAX_ATTEMPTS, RETRY_DELAYS, alert_notification_send
from alerts.services import alerts_evaluate


@task()
def alerts_evaluate_task(organization_id: str, region: str, event_ids: list[str]) -> int:
    """Evaluate the organization's active rules in `region` on these new events."""
    return len(alerts_evaluate(organization_id=organization_id, region=region, event_ids=event_ids))


@task()
def alert_notify(alert_id: str) -> str:
    """Send an alert's e-mail; on failure, try again later (a bounded number of times)."""
    status = alert_notification_send(alert_id=alert_id)
    if status == Alert.Notification.PENDING:
        attempts = Alert.objects.filter(pk=alert_id).values_list("notification_attempts", flat=True).get()
        if attempts < MAX_ATTEMPTS:
            delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
            if alert_notify.get_backend().supports_defer:
                alert_notify.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(alert_id)
            else:  # a backend that cannot defer (the immediate one): retry now
                alert_notify.enqueue(alert_id)
    return status
