"""Background work of alerting. Every task may run twice (a worker killed mid-task has its tasks
run again): all are idempotent."""

from __future__ import annotations

from django.tasks import task

from alerts.models import Alert
from alerts.notifications import alert_notification_send
from alerts.services import alerts_evaluate
from worker.delivery import deliveries_sweep, follow_up

# E-mails are short and time-sensitive: they pass before queued evaluations (priority 0 and below).
NOTIFY_PRIORITY = 10


@task()
def alerts_evaluate_task(organization_id: str, region: str, event_ids: list[str]) -> int:
    """Evaluate the organization's active rules in `region` on these new events."""
    return len(alerts_evaluate(organization_id=organization_id, region=region, event_ids=event_ids))


@task(priority=NOTIFY_PRIORITY)
def alert_notify(alert_id: str) -> str:
    """Send an alert's e-mail; until it is sent or failed for good, run again later."""
    alert = alert_notification_send(alert_id=alert_id)
    follow_up(alert_notify, alert)
    return alert.notification_status


def alert_notifications_sweep() -> int:
    """Enqueue again the alert e-mails whose task was lost (a step of every db_worker's loop)."""
    return deliveries_sweep(Alert, alert_notify)
