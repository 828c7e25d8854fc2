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
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from django.db import IntegrityError, connections, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.ids import uuid7
from audit.models import AuthenticationEvent, Event, PrincipalType
from audit.redaction import redact, redacted
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


class EventRow(NamedTuple):
    """An event's stored values, in the table's column order: what `record_rows` COPYs.

    Ingestion builds these straight from the validated wire dicts, skipping the model instance
    (a tenth of the per-event cost); `Event(*row)` makes one when needed.
    """

    id: uuid.UUID
    recorded_at: datetime
    organization_id: uuid.UUID | str
    project_id: uuid.UUID | str | None
    locality: str
    region: str
    principal_id: uuid.UUID | None
    principal_type: str
    principal_name: str
    source_ip: str | None
    user_agent: str
    product_name: str
    service_name: str
    method_name: str
    resources: list[dict[str, Any]]
    request_id: str
    request_body: dict[str, Any]
    status_code: int


_COLUMNS = [f.attname for f in Event._meta.concrete_fields]
assert list(EventRow._fields) == _COLUMNS, "EventRow must list Event's concrete fields in order"  # noqa: S101
_JSON_COLUMNS = tuple(i for i, f in enumerate(Event._meta.concrete_fields) if isinstance(f, models.JSONField))


@lru_cache(maxsize=256)
def _region(locality: str) -> str:
    if not LOCALITY_RE.match(locality):
        raise ValueError(
            f"Invalid locality {locality!r}: expected global, a region (fr-par) or a zone (fr-par-1)."
        )
    return region_of(locality)


def event_row(
    *,
    id: uuid.UUID,
    recorded_at: datetime,
    organization_id: uuid.UUID | str,
    project_id: uuid.UUID | str | None,
    locality: str,
    principal_type: str,
    principal_id: uuid.UUID | None,
    principal_name: str,
    source_ip: str | None,
    user_agent: str,
    product_name: str,
    service_name: str,
    method_name: str,
    resources: list[dict[str, Any]],
    request_id: str,
    request_body: dict[str, Any] | None,
    status_code: int,
) -> EventRow:
    """One event's normalized values, as `build_event` stores them. Raises ValueError on a
    malformed locality.

    Redaction copies only what it changes: `resources` and `request_body` must not be mutated
    by the caller afterwards (a freshly parsed request qualifies).
    """
    return EventRow(
        id,
        recorded_at,
        organization_id,
        project_id,
        locality,
        _region(locality),
        principal_id,
        principal_type,
        principal_name[:200],
        source_ip or None,
        (user_agent or "")[:512],
        product_name,
        service_name,
        method_name,
        redacted(resources),
        request_id,
        redacted(request_body or {}),
        status_code,
    )


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
    recorded_at = recorded_at or timezone.now()
    return Event(
        *event_row(
            id=id or uuid7(recorded_at),
            recorded_at=recorded_at,
            organization_id=organization_id,
            project_id=project_id,
            locality=locality,
            principal_type=actor.principal_type,
            principal_id=actor.principal_id,
            principal_name=actor.principal_name,
            source_ip=actor.source_ip,
            user_agent=actor.user_agent,
            product_name=product_name,
            service_name=service_name,
            method_name=method_name,
            # Deep copies: the caller keeps its own dicts.
            resources=redact(list(resources)),
            request_id=actor.request_id,
            request_body=redact(request_body or {}),
            status_code=status_code,
        )
    )


def _announce(events: Iterable[Event | EventRow]) -> None:
    spelled: dict[tuple[uuid.UUID | str, str], list[uuid.UUID]] = defaultdict(list)
    for event in events:
        spelled[(event.organization_id, event.region)].append(event.id)
    groups: dict[tuple[uuid.UUID, str], list[uuid.UUID]] = defaultdict(list)
    for (organization_id, region), ids in spelled.items():  # one UUID parse per group, not per event
        groups[(uuid.UUID(str(organization_id)), region)] += ids

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


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what only the standard library encodes (e.g. integers beyond 64 bits)
        return json.dumps(value)


def _copy_values(row: EventRow) -> list[Any]:
    """A row as COPY's text format takes it: JSON columns as JSON text."""
    values = list(row)
    for i in _JSON_COLUMNS:
        values[i] = _json_text(values[i])
    return values


def _row_of(event: Event) -> EventRow:
    values = event.__dict__
    return EventRow(*(values[name] for name in _COLUMNS))


def copy_rows(cursor: Any, table: str, rows: Iterable[list[Any]], connection: Any) -> None:
    """COPY rows (from `_copy_values`) into `table`, one `write_row` each, as they come. The raw
    COPY the ingestion benchmark compares against uses this too."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in Event._meta.concrete_fields)
    # The raw psycopg cursor bypasses Django's wrapper: map its errors to django.db's.
    with connection.wrap_database_errors, cursor.copy(f"COPY {qn(table)} ({columns}) FROM STDIN") as copy:
        write = copy.write_row
        for values in rows:
            write(values)


def record_new(events: Iterable[Event]) -> list[Event]:
    """Append the events (built with `build_event`) whose id is not stored yet; return those.

    `record_rows` for model instances: all or nothing, and a retried batch creates nothing.
    """
    events = list(events)
    stored = {row.id for row in record_rows([_row_of(event) for event in events])}
    new = []
    for event in events:
        if event.id in stored:
            stored.discard(event.id)  # the first of two events sharing an id, as record_rows keeps
            new.append(event)
    return new


def record_rows(rows: Iterable[EventRow], *, ids: Collection[uuid.UUID] | None = None) -> list[EventRow]:
    """Append the rows (built with `event_row`) whose id is not stored yet; return those.

    The idempotent batch door (ingestion): all or nothing, and a retried batch creates nothing.
    An id counts as stored whatever its `recorded_at` (on PostgreSQL the table's own unique key
    is `(id, recorded_at)`, the partition key being part of it). Only the rows actually stored
    are announced.

    Given `ids` (the ids the rows will carry), the stored ids are probed first and the rows are
    then streamed into the COPY as the iterable yields them, so building them overlaps the
    database's index work; an exception from the iterable aborts the whole batch.

    Cost: one index probe per event, then on PostgreSQL one COPY; a concurrent writer of the
    same ids makes it fall back to a temporary table and INSERT ... ON CONFLICT DO NOTHING.
    """
    if ids is None:
        rows = list(rows)
        ids = [row.id for row in rows]
    if not ids:
        return []
    connection = connections[Event.objects.db]
    if connection.vendor != "postgresql":
        with transaction.atomic():
            stored = _stored_ids(ids, connection)
            new = list(_fresh(rows, stored))
            Event.objects.bulk_create([Event(*row) for row in new], ignore_conflicts=True)
            _announce(new)
        return new
    new: list[EventRow] = []
    fresh = _fresh(rows, _stored_ids(ids, connection))
    # One atomic block: a transaction when called outside one (an API request), which spares
    # the savepoint a nested call needs; either way a failed COPY leaves nothing behind.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            copy_rows(cursor.cursor, Event._meta.db_table, _collect(fresh, new), connection)
            _announce(new)
        return new
    except IntegrityError:  # a concurrent writer stored some of the ids since the probe
        pass
    new.extend(fresh)  # whatever the failed COPY had not consumed yet
    with transaction.atomic():
        new = _insert_ignoring_conflicts(new, connection)
        _announce(new)
    return new


def _fresh(rows: Iterable[EventRow], stored: set[uuid.UUID]) -> Iterator[EventRow]:
    """The rows whose id is neither stored nor taken by an earlier row of the batch."""
    seen: set[uuid.UUID] = set()
    for row in rows:
        if row.id not in stored and row.id not in seen:
            seen.add(row.id)
            yield row


def _stored_ids(ids: Collection[uuid.UUID], connection: Any) -> set[uuid.UUID]:
    """Which of `ids` are stored, in any partition.

    On PostgreSQL, one text parameter (`.hex` spells a UUID five times faster than `str`), made
    an array by a subquery: the planner then does not weigh 1,000 constants against each
    partition's statistics (a plain `= ANY(constant)` or IN list plans longer than it runs), and
    each partition's primary key is walked once in the array's sorted order.
    """
    if connection.vendor != "postgresql":
        return set(Event.objects.filter(id__in=list(ids)).values_list("id", flat=True))
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE id = ANY(ARRAY(SELECT unnest(%s::uuid[])))",
            ["{" + ",".join([pk.hex for pk in ids]) + "}"],
        )
        return {row[0] for row in cursor.fetchall()}


def _collect(stream: Iterable[EventRow], into: list[EventRow]) -> Iterator[list[Any]]:
    """Remember each row while handing COPY its values."""
    for row in stream:
        into.append(row)
        yield _copy_values(row)


def _insert_ignoring_conflicts(rows: Sequence[EventRow], connection: Any) -> list[EventRow]:
    """COPY into a temporary table, then INSERT ... ON CONFLICT DO NOTHING RETURNING id."""
    qn = connection.ops.quote_name
    table = Event._meta.db_table
    columns = ", ".join(qn(f.column) for f in Event._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE audit_event_incoming (LIKE {qn(table)} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        copy_rows(cursor.cursor, "audit_event_incoming", map(_copy_values, rows), connection)
        cursor.execute(
            f"INSERT INTO {qn(table)} ({columns}) SELECT {columns} FROM audit_event_incoming "
            f"ON CONFLICT DO NOTHING RETURNING {qn('id')}"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute("DROP TABLE audit_event_incoming")
    return [row for row in rows if row.id in inserted]
