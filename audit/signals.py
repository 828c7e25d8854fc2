"""The trail's one hook: "events recorded". Subscribers (alerting now, sealing next) connect to it
in their AppConfig.ready(); audit imports none of them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by every door of audit.services (record, record_many, record_refusal: ingestion included)
# once the transaction that stored the events has committed: one send per organization and
# region of each call, never for an event that was not stored.
# kwargs: organization_id (UUID), region (str), event_ids (list[UUID]), refused (int: how many of
# them have status 403, for the metrics' refusal counts without a query).
events_recorded = Signal()
