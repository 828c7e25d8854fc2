from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings


def enqueue_seal(
    sender: Any, *, organization_id: uuid.UUID, region: str, event_ids: list[uuid.UUID], **kwargs: Any
) -> None:
    """Events were recorded (and committed): seal them into their organization's tree. Should this
    enqueue be lost (a crash right after the commit), the periodic sweep seals them instead."""
    from integrity.tasks import seal_task

    if not settings.INTEGRITY_SEAL_ON_RECORD:
        return
    seal_task.enqueue(str(organization_id), [str(i) for i in event_ids])
