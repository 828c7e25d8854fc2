"""Sealing's background work. Both are idempotent: an event already in the tree is skipped."""

from __future__ import annotations

import logging

from django.conf import settings
from django.tasks import task

from integrity.services import seal, seal_sweep_due

logger = logging.getLogger(__name__)


@task()
def seal_task(organization_id: str, event_ids: list[str] | None = None) -> int:
    """Seal these new events of the organization (all its unsealed events when None)."""
    return seal(organization_id, event_ids)


def seal_sweep() -> int:
    """Enqueue a full sweep for each organization not swept for INTEGRITY_SEAL_INTERVAL seconds, so
    that every event is sealed within that interval even when its own task was lost (a step of
    every db_worker's loop)."""
    due = seal_sweep_due(interval=float(settings.INTEGRITY_SEAL_INTERVAL))
    for organization_id in due:
        seal_task.enqueue(str(organization_id), None)
    return len(due)


@task()
def purge_task() -> int:
    """Remove the events past their organization's retention (`integrity.retention.purge`), as the
    tables' owner. Returns how many events the checkpoints cover."""
    from integrity.retention import RetentionRefused, purge

    try:
        return purge().removed
    except RetentionRefused as refused:  # no DATABASE_OWNER_URL: said once an interval, not retried
        logger.warning("Retention purge skipped: %s", refused)
        return 0


def retention_sweep() -> int:
    """Enqueue a purge at most once per INTEGRITY_PURGE_INTERVAL seconds across the workers (a step
    of every db_worker's loop). Returns 1 when it enqueued one."""
    from integrity.retention import purge_due

    if not purge_due(interval=float(settings.INTEGRITY_PURGE_INTERVAL)):
        return 0
    purge_task.enqueue()
    return 1
