"""Sealing's background work. Both are idempotent: an event already in the tree is skipped."""

from __future__ import annotations

from django.conf import settings
from django.tasks import task

from integrity.services import seal, seal_sweep_due


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
