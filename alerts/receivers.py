from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from alerts.models import AlertRuleSetting, CustomAlertRule
from audit.signals import Recorded
from worker.services import tasks_queued

# One task evaluates at most this many events (a large ingestion batch becomes several tasks).
TASK_BATCH = 500
# Priorities 0 to -100 (django.tasks' lowest) tell apart organizations with 0 to 100+ waiting tasks.
BACKLOG_LEVELS = 100


def enqueue_evaluation(sender: Any, *, recorded: list[Recorded], **kwargs: Any) -> None:
    """Events were recorded (and committed): evaluate each organization's active rules on its
    events of the regions where it has some.

    One query finds which of the call's organizations and regions have an active rule, so
    recording stays cheap for the organizations that do not use alerting, and a batch spanning a
    hundred of them costs one query, not a hundred. The tasks are enqueued in one transaction.
    """
    from alerts.tasks import alerts_evaluate_task

    active = _rules_active({(group.organization_id, group.region) for group in recorded})
    if not active:
        return
    with transaction.atomic():
        for group in recorded:
            if (group.organization_id, group.region) not in active:
                continue
            organization = str(group.organization_id)
            ids = [str(i) for i in group.event_ids]
            # Fair queueing: the more evaluations an organization already has waiting, the lower
            # the priority of its next one, so one organization's backlog (a flood of events, a
            # costly rule) delays another's alerts by one task at most, not by the whole backlog.
            waiting = tasks_queued(alerts_evaluate_task, first_argument=organization, limit=BACKLOG_LEVELS)
            for start in range(0, len(ids), TASK_BATCH):
                priority = -min(waiting, BACKLOG_LEVELS)
                alerts_evaluate_task.using(priority=priority).enqueue(
                    organization, group.region, ids[start : start + TASK_BATCH]
                )
                waiting += 1


def _rules_active(pairs: set[tuple[uuid.UUID, str]]) -> set[tuple[uuid.UUID, str]]:
    """Which of these (organization, region) pairs have a preconfigured or custom rule active? One
    query (a UNION), on each table's (organization, region) index."""
    organizations = {organization_id for organization_id, _ in pairs}
    regions = {region for _, region in pairs}
    active = {"organization_id__in": organizations, "region__in": regions, "enabled": True}
    settings = AlertRuleSetting.objects.filter(**active).order_by().values_list("organization_id", "region")
    custom_rules = (
        CustomAlertRule.objects.filter(**active).order_by().values_list("organization_id", "region")
    )
    return {(organization_id, region) for organization_id, region in settings.union(custom_rules)} & pairs
