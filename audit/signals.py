"""The trail's one hook: "events recorded". Subscribers (alerting, sealing, metrics) connect to it
in their AppConfig.ready(); audit imports none of them."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from django.dispatch import Signal


class Recorded(NamedTuple):
    """Events of one organization and region that one call of the door stored."""

    organization_id: uuid.UUID
    region: str
    event_ids: list[uuid.UUID]
    refused: int  # how many of them have status 403 (the metrics' refusal counts, without a query)


# Sent by every door of audit.services (record, record_many, record_refusal: ingestion included)
# once the transaction that stored the events has committed: one send per call, never for an event
# that was not stored. kwargs: recorded (list[Recorded]: one per organization and region, in the
# order of their first event), so that a receiver can serve a batch spanning many organizations
# with one query (a bulk load's batch spans a hundred and more).
events_recorded = Signal()
