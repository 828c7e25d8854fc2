"""The only way into the trail: `record()` for one event, `record_many()` for batches.

Both redact request bodies, derive the region from the locality, and announce the new events
through `audit.signals.events_recorded` once the surrounding transaction commits.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, models, transaction
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


# The COPY fast path writes every concrete column; JSON columns travel as JSON text.
_COPY_FIELDS = list(Event._meta.concrete_fields)
_COPY_ATTRS = [(f.attname, isinstance(f, models.JSONField)) for f in _COPY_FIELDS]


def _copy_row(event: Event) -> tuple[Any, ...]:
    values = event.__dict__
    return tuple(json.dumps(values[name]) if is_json else values[name] for name, is_json in _COPY_ATTRS)


def _copy_into(cursor: Any, table: str, events: Iterable[Event], connection: Any) -> None:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _COPY_FIELDS)
    # The raw psycopg cursor bypasses Django's wrapper: map its errors to django.db's.
    with (
        connection.wrap_database_errors,
        cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy,
    ):
        for event in events:
            copy.write_row(_copy_row(event))


@transaction.atomic
def record_new(events: Iterable[Event], *, ids: Collection[uuid.UUID] | None = None) -> list[Event]:
    """Append the events (built with `build_event`) whose id is not stored yet; return those.

    The idempotent batch door (ingestion): all or nothing, and a retried batch creates nothing.
    An id counts as stored whatever its `recorded_at` (on PostgreSQL the table's own unique key
    is `(id, recorded_at)`, the partition key being part of it). Only the events actually stored
    are announced.

    Given `ids` (the ids the events will carry), the stored ids are probed first and the events
    are then streamed into the COPY as the iterable yields them, so building them overlaps the
    database's index work; an exception from the iterable aborts the whole batch.

    Cost: one index probe per event, then on PostgreSQL one COPY (about 6x `bulk_create`); a
    concurrent writer of the same ids makes it fall back to a temporary table and
    INSERT ... ON CONFLICT DO NOTHING.
    """
    if ids is None:
        events = list(events)
        ids = [event.id for event in events]
    if not ids:
        return []
    connection = connections[Event.objects.db]
    stored = _stored_ids(set(ids), connection)
    seen: set[uuid.UUID] = set()

    def fresh(stream: Iterable[Event]) -> Iterator[Event]:
        for event in stream:
            if event.id not in stored and event.id not in seen:
                seen.add(event.id)
                yield event

    if connection.vendor != "postgresql":
        new = list(fresh(events))
        Event.objects.bulk_create(new, ignore_conflicts=True)
        _announce(new)
        return new
    stream = iter(events)
    new = []
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy_into(cursor.cursor, Event._meta.db_table, _collect(fresh(stream), new), connection)
    except IntegrityError:
        new.extend(fresh(stream))  # whatever the failed COPY had not consumed yet
        new = _insert_ignoring_conflicts(new, connection)
    _announce(new)
    return new


def _stored_ids(ids: set[uuid.UUID], connection: Any) -> set[uuid.UUID]:
    """Which of `ids` are stored, in any partition. On PostgreSQL one array parameter joined to
    the primary-key indexes (a 1,000-value IN list costs more to plan than to run)."""
    if connection.vendor != "postgresql":
        return set(Event.objects.filter(id__in=list(ids)).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id FROM unnest(%s::uuid[]) AS probe(id) JOIN audit_event e ON e.id = probe.id",
            [list(ids)],
        )
        return {row[0] for row in cursor.fetchall()}


def _collect(stream: Iterable[Event], into: list[Event]) -> Iterator[Event]:
    for event in stream:
        into.append(event)
        yield event


def _insert_ignoring_conflicts(events: Sequence[Event], connection: Any) -> list[Event]:
    """COPY into a temporary table, then INSERT ... ON CONFLICT DO NOTHING RETURNING id."""
    qn = connection.ops.quote_name
    table = Event._meta.db_table
    columns = ", ".join(qn(f.column) for f in _COPY_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE audit_event_incoming (LIKE {qn(table)} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        _copy_into(cursor.cursor, "audit_event_incoming", events, connection)
        cursor.execute(
            f"INSERT INTO {qn(table)} ({columns}) SELECT {columns} FROM audit_event_incoming "
            f"ON CONFLICT DO NOTHING RETURNING {qn('id')}"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE audit_event_incoming")
    return [event for event in events if event.id in inserted]
