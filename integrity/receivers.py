from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import transaction

from audit.signals import Recorded


def enqueue_seal(sender: Any, *, recorded: list[Recorded], **kwargs: Any) -> None:
    """Events were recorded (and committed): seal them into their organizations' trees, one task
    per organization (its regions together), enqueued in one transaction. Should an enqueue be
    lost (a crash right after the commit), the periodic sweep seals them instead."""
    from integrity.tasks import seal_task

    if not settings.INTEGRITY_SEAL_ON_RECORD:
        return
    by_organization: dict[uuid.UUID, list[str]] = defaultdict(list)
    for group in recorded:
        by_organization[group.organization_id] += [str(i) for i in group.event_ids]
    with transaction.atomic():
        for organization_id, ids in by_organization.items():
            seal_task.enqueue(str(organization_id), ids)
