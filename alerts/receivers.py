from __future__ import annotations

import uuid
from typing import Any

from alerts.models import AlertRuleSetting, CustomAlertRule

# One task evaluates at most this many events (a large ingestion batch becomes several tasks).
TASK_BATCH = 500


def enqueue_evaluation(
    sender: Any, *, organization_id: uuid.UUID, region: str, event_ids: list[uuid.UUID], **kwargs: Any
) -> None:
    """Events were recorded (and committed): evaluate the organization's active rules on them.

    Nothing is enqueued when no rule is active in that region (one indexed query), so recording
    stays cheap for the organizations that do not use alerting.
    """
    from alerts.tasks import alerts_evaluate_task

    # One query for both kinds of rule (a batch announces one group per region it touches).
    active = (
        AlertRuleSetting.objects.filter(organization_id=organization_id, region=region, enabled=True)
        .order_by()
        .values_list("organization_id")
        .union(
            CustomAlertRule.objects.filter(organization_id=organization_id, region=region, enabled=True)
            .order_by()
            .values_list("organization_id")
        )
        .exists()
    )
    if not active:
        return
    ids = [str(i) for i in event_ids]
    for start in range(0, len(ids), TASK_BATCH):
        alerts_evaluate_task.enqueue(str(organization_id), region, ids[start : start + TASK_BATCH])
