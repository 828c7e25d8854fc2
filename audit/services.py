"""The only way into the trail: `record()` for one event, `record_many()` for batches.

Both redact request bodies, derive the region from the locality, and announce the new events
through `audit.signals.events_recorded` once the surrounding transaction commits.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.ids import uuid7
from audit.models import AuthenticationEvent, Event, PrincipalType
from audit.redaction import redact
from audit.regions import LOCALITY_RE, region_of
from audit.signals import events_recorded
from iam.http import client_ip, user_agent
from iam.models import Application, User

SCALEWAY = "Scaleway"


@dataclass(frozen=True)
class Actor:
    """Who caused an event and from where: the principal plus the request's fingerprints."""

    principal_type: str
    principal_id: uuid.UUID | None = None
    principal_name: str = ""
    source_ip: str | None = None
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def system(cls, *, request_id: str = "") -> Actor:
        """The platform itself ("Scaleway"), e.g. creating an organization's default groups."""
        return cls(principal_type=PrincipalType.SYSTEM, principal_name=SCALEWAY, request_id=request_id)

    @classmethod
    def of(cls, principal: User | Application | None, *, request: HttpRequest | None = None) -> Actor:
        fingerprint: dict[str, Any] = {}
        if request is not None:
            fingerprint = {
                "source_ip": client_ip(request),
                "user_agent": user_agent(request),
                "request_id": getattr(request, "request_id", ""),
            }
        if isinstance(principal, User):
            return cls(PrincipalType.USER, principal.pk, principal.email, **fingerprint)
        if isinstance(principal, Application):
            return cls(PrincipalType.APPLICATION, principal.pk, principal.name, **fingerprint)
        return cls(PrincipalType.ANONYMOUS, **fingerprint)

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        """The request's principal: the API key's bearer, else the signed-in user."""
        principal = getattr(request, "principal", None)
        if principal is None:
            user = getattr(request, "user", None)
            principal = user if user is not None and user.is_authenticated else None
        return cls.of(principal, request=request)


def build_event(
    *,
    organization_id: uuid.UUID | str,
    actor: Actor,
    product_name: str,
    service_name: str,
    method_name: str,
    locality: str,
    status_code: int = 200,
    project_id: uuid.UUID | str | None = None,
    resources: Sequence[dict[str, Any]] = (),
    request_body: dict[str, Any] | None = None,
    recorded_at: datetime | None = None,
    id: uuid.UUID | None = None,
) -> Event:
    """An unsaved, normalized Event. Raises ValueError on a malformed locality."""
    if not LOCALITY_RE.match(locality):
        raise ValueError(
            f"Invalid locality {locality!r}: expected global, a region (fr-par) or a zone (fr-par-1)."
        )
    recorded_at = recorded_at or timezone.now()
    return Event(
        id=id or uuid7(recorded_at),
        recorded_at=recorded_at,
        organization_id=organization_id,
        project_id=project_id,
        locality=locality,
        region=region_of(locality),
        principal_id=actor.principal_id,
        principal_type=actor.principal_type,
        principal_name=actor.principal_name[:200],
        source_ip=actor.source_ip or None,
        user_agent=(actor.user_agent or "")[:512],
        product_name=product_name,
        service_name=service_name,
        method_name=method_name,
        resources=redact(list(resources)),
        request_id=actor.request_id,
        request_body=redact(request_body or {}),
        status_code=status_code,
    )


def _announce(events: Iterable[Event]) -> None:
    groups: dict[tuple[uuid.UUID, str], list[uuid.UUID]] = defaultdict(list)
    for event in events:
        groups[(uuid.UUID(str(event.organization_id)), event.region)].append(event.id)

    def send() -> None:
        for (organization_id, region), ids in groups.items():
            events_recorded.send(sender=Event, organization_id=organization_id, region=region, event_ids=ids)

    transaction.on_commit(send)


def record(**fields: Any) -> Event:
    """Append one event (see `build_event` for the fields). One INSERT."""
    event = build_event(**fields)
    event.save(force_insert=True)
    _announce([event])
    return event


@transaction.atomic
def record_many(events: Iterable[Event], *, batch_size: int = 1000, ignore_conflicts: bool = False) -> int:
    """Append many events built with `build_event`, in batches of `batch_size` INSERTs.

    All or nothing (one transaction). With `ignore_conflicts`, events whose id is already stored
    are skipped, which makes retried batches idempotent. Returns the number of events given.
    """
    batch: list[Event] = []
    count = 0
    announced: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) >= batch_size:
            Event.objects.bulk_create(batch, ignore_conflicts=ignore_conflicts)
            announced.extend(batch)
            count += len(batch)
            batch = []
    if batch:
        Event.objects.bulk_create(batch, ignore_conflicts=ignore_conflicts)
        announced.extend(batch)
        count += len(batch)
    _announce(announced)
    return count


def record_request(request: HttpRequest, **fields: Any) -> Event:
    """Record an event caused by `request`: its principal, IP, user agent and request id."""
    organization = fields.pop("organization", None) or request.organization  # type: ignore[attr-defined]
    return record(organization_id=organization.pk, actor=Actor.from_request(request), **fields)


def authentication_event_record(
    *,
    request: HttpRequest,
    email: str,
    result: str,
    user: User | None = None,
    organization_id: uuid.UUID | None = None,
    failure_reason: str = "",
    method: str = AuthenticationEvent.Method.PASSWORD,
) -> AuthenticationEvent:
    """Append one console sign-in attempt."""
    event = AuthenticationEvent(
        organization_id=organization_id,
        user_id=user.pk if user else None,
        email=email[:254],
        source_ip=client_ip(request),
        user_agent=user_agent(request),
        result=result,
        failure_reason=failure_reason,
        method=method,
    )
    event.save(force_insert=True)
    return event
