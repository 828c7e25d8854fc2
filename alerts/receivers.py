from __future__ import annotations

import uuid
from typing import Any

from alerts.models import AlertRuleSetting, CustomAlertRule
from worker.services import tasks_queued

# One task evaluates at most this many events (a large ingestion batch becomes several tasks).
TASK_BATCH = 500
# Priorities 0 to -100 (django.tasks' lowest) tell apart organizations with 0 to 100+ waiting tasks.
BACKLOG_LEVELS = 100


def enqueue_evaluation(
    sender: Any, *, organization_id: uuid.UUID, region: str, event_ids: list[uuid.UUID], **kwargs: Any
) -> None:
    """Events were recorded (and committed): evaluate the organization's active rules on them.

    Nothing is enqueued when no rule is active in that region (one indexed query), so recording
    stays cheap for the organizations that do not use alerting.
    """
    from alerts.tasks import alerts_evaluate_task

    if not _rule_active(organization_id, region):
        return
    ids = [str(i) for i in event_ids]
    # Fair queueing: the more evaluations an organization already has waiting, the lower the
    # priority of its next one, so one organization's backlog (a flood of events, a costly rule)
    # delays another's alerts by one task at most, not by the whole backlog.
    waiting = tasks_queued(alerts_evaluate_task, first_argument=str(organization_id), limit=BACKLOG_LEVELS)
    for start in range(0, len(ids), TASK_BATCH):
        priority = -min(waiting, BACKLOG_LEVELS)
        alerts_evaluate_task.using(priority=priority).enqueue(
            str(organization_id), region, ids[start : start + TASK_BATCH]
        )
        waiting += 1


def _rule_active(organization_id: uuid.UUID, region: str) -> bool:
    """Is a preconfigured or custom rule active in the organization and region? One query (a
    UNION), on each table's (organization, region) index."""
    active = {"organization_id": organization_id, "region": region, "enabled": True}
    settings = AlertRuleSetting.objects.filter(**active)
    custom_rules = CustomAlertRule.objects.filter(**active)
    return settings.union(custom_rules).exists()
