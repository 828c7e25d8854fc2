from __future__ import annotations

from django.dispatch import Signal

# Sent once the transaction that recorded events has committed. Alerting and sealing subscribe;
# audit imports neither. kwargs: organization_id (UUID), region (str), event_ids (list[UUID]).
events_recorded = Signal()
