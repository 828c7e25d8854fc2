"""The one door into the trail. Nothing else writes an `Event`:

- `record()` appends one event (one INSERT);
- `record_many()` appends a batch, idempotently: an event whose id its organization already
  holds is skipped (one COPY on PostgreSQL). Ingestion, the `ingest` command and the demo use it;
- `record_refusal()` appends the 403 event of a refused action, for the console and the API alike;
- `record_authentication()` appends a console sign-in attempt (`AuthenticationEvent`);
- `record_system()` appends what the platform did by itself (`SystemEvent`: an export run, an
  alert e-mail sent).

Events are redacted and get their region from their locality. Every call that stores events
announces them through `audit.signals.events_recorded` once its transaction commits (one
`on_commit` and one signal per call, listing the events per organization and region), which is how alerting and
sealing learn of them without audit importing either. In the same transaction every call that stores
`Event`s adds them to their hours' counts (`EventRollup`, `_roll_up`), which the unfiltered timeline
reads.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from django.db import connections, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import (
    IAM_LOG_METHOD_NAMES,
    AuthenticationEvent,
    Event,
    EventKey,
    EventRollup,
    PrincipalType,
    SystemEvent,
)
from audit.redaction import redact, redacted
from audit.signals import Recorded, events_recorded
from core import SCALEWAY
from core.http import client_ip, user_agent
from core.ids import uuid7
from core.regions import GLOBAL, LOCALITY_RE, region_of
from iam.models import Application, User


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
    """An event's stored values, in the table's column order: what `record_many` COPYs.

    Ingestion builds these straight from the validated wire dicts, skipping the model instance
    (a tenth of the per-event cost); `event_from_row(row)` makes one when needed.
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
assert list(EventRow._fields) == _COLUMNS, (
    "EventRow must list Event's concrete fields in order"
)  # checked at import
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


def event_from_row(row: EventRow) -> Event:
    """The unsaved Event holding `row`'s values. As fast as `Event(*row)`, and type-checked:
    django-stubs checks a starred argument against every field as a whole, so each value is
    named and passed in the row's (the table's) column order, which the model takes positionally."""
    (
        id,
        recorded_at,
        organization_id,
        project_id,
        locality,
        region,
        principal_id,
        principal_type,
        principal_name,
        source_ip,
        user_agent,
        product_name,
        service_name,
        method_name,
        resources,
        request_id,
        request_body,
        status_code,
    ) = row
    return Event(
        id,
        recorded_at,
        organization_id,
        project_id,
        locality,
        region,
        principal_id,
        principal_type,
        principal_name,
        source_ip,
        user_agent,
        product_name,
        service_name,
        method_name,
        resources,
        request_id,
        request_body,
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
    return event_from_row(
        event_row(
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


def _announce(events: Sequence[Event | EventRow]) -> None:
    """Announce `events`, just stored, once the transaction commits: one `on_commit` and one
    `events_recorded` for the call, which lists them per organization and region. Nothing stored,
    nothing sent."""
    if not events:
        return
    spelled: dict[tuple[uuid.UUID | str, str], list[uuid.UUID]] = defaultdict(list)
    spelled_refused: Counter[tuple[uuid.UUID | str, str]] = Counter()
    for event in events:
        spelled[(event.organization_id, event.region)].append(event.id)
        if event.status_code == 403:
            spelled_refused[(event.organization_id, event.region)] += 1
    groups: dict[tuple[uuid.UUID, str], list[uuid.UUID]] = defaultdict(list)
    refused: Counter[tuple[uuid.UUID, str]] = Counter()
    for (organization_id, region), ids in spelled.items():  # one UUID parse per group, not per event
        key = (_organization(organization_id), region)
        groups[key] += ids
        refused[key] += spelled_refused[(organization_id, region)]
    recorded = [Recorded(*key, ids, refused[key]) for key, ids in groups.items()]
    transaction.on_commit(lambda: events_recorded.send(sender=Event, recorded=recorded))


def record(**fields: Any) -> Event:
    """Append one event (see `build_event` for the fields) and return it. One INSERT, and the
    upsert of its hour's count.

    Not idempotent: the id is minted here unless given. A batch, or events that a client may
    send again, go through `record_many`.
    """
    event = build_event(**fields)
    connection = connections[Event.objects.db]
    with transaction.atomic(using=connection.alias):  # the event and its hour's count, together
        event.save(force_insert=True, using=connection.alias)
        _roll_up([event], connection)
        _announce([event])
    return event


# Where a refused action is filed in the trail, by the action's prefix (the actions of
# iam.permission_sets): the product and API that refused it, and the locality of a global product
# (None: the region the caller was in).
REFUSAL_PRODUCTS: dict[str, tuple[str, str, str | None]] = {
    "audit_trail": ("audit-trail", "scaleway.audit_trail.v1alpha1.Api", None),
    "iam": ("iam", "scaleway.iam.v1alpha1.Api", GLOBAL),
    "projects": ("account", "scaleway.account.v3.ProjectApi", GLOBAL),
    "contacts": ("account", "scaleway.account.v3.ContactApi", GLOBAL),
}


def record_refusal(
    request: HttpRequest,
    *,
    action: str,
    method_name: str,
    locality: str,
    resources: Sequence[dict[str, Any]] = (),
    request_body: dict[str, Any] | None = None,
) -> Event | None:
    """Append the 403 event of a refused `action` (an action of iam.permission_sets, such as
    "iam:write"): a refusal is part of the record, though nothing changed. The console and the
    API both file their refusals here, the same way.

    The event is filed in the request's organization (the caller's own), under the request's
    principal (the API key's bearer, else the signed-in user) with its IP, user agent and request
    id, as the Scaleway method `method_name` of the action's product. `locality` is where the
    caller asked (a region); a global product (IAM, Account) files it under `global` instead.
    `request_body` is what the caller sent, redacted here.

    Returns None, recording nothing, when the request has no organization to file it under.
    One INSERT (and its hour's count). A database fault propagates (`api.faults` answers 503):
    a refusal that could not be recorded is not answered as one.
    """
    organization = getattr(request, "organization", None)
    if organization is None:
        return None
    product_name, service_name, product_locality = REFUSAL_PRODUCTS[action.split(":")[0]]
    return record(
        organization_id=organization.pk,
        actor=Actor.from_request(request),
        product_name=product_name,
        service_name=service_name,
        method_name=method_name,
        locality=product_locality or locality,
        status_code=403,
        resources=resources,
        request_body=request_body,
    )


def record_authentication(
    *,
    request: HttpRequest,
    email: str,
    result: str,
    user: User | None = None,
    organization_id: uuid.UUID | None = None,
    failure_reason: str = "",
    method: str = AuthenticationEvent.Method.PASSWORD,
) -> AuthenticationEvent:
    """Append one console sign-in attempt, with the request's IP and user agent. One INSERT."""
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


def record_system(
    *,
    organization_id: uuid.UUID | str,
    kind: str,
    system_name: str,
    source: str,
    locality: str,
    product_name: str = "audit-trail",
    project_id: uuid.UUID | str | None = None,
    resources: Sequence[dict[str, Any]] = (),
) -> SystemEvent:
    """Append one system event (reference §3.5): `kind` is "cron" (a scheduled job's run) or
    "notification" (a message sent); `system_name` names the job or the message, `source` what
    did it. Raises ValueError on a malformed locality. One INSERT."""
    event = SystemEvent(
        organization_id=organization_id,
        project_id=project_id,
        locality=locality,
        region=_region(locality),
        product_name=product_name,
        source=source[:128],
        system_name=system_name[:128],
        kind=kind,
        resources=redact(list(resources)),
    )
    event.save(force_insert=True)
    return event


Key = tuple[uuid.UUID, uuid.UUID]  # (organization_id, event id): an idempotency key


def record_many[Stored: (Event, EventRow)](
    events: Iterable[Stored], *, keys: Collection[Key] | None = None
) -> list[Stored]:
    """Append the events whose id is new in their organization; return those, in their order.

    `events` are Events built with `build_event` or rows built with `event_row` (what ingestion
    builds straight from the wire, skipping the model instance). All or nothing, in one
    transaction (a savepoint inside the caller's), and a retried batch stores nothing: an event's
    id is its idempotency key within its organization, whatever its `recorded_at`. The keys are
    claimed in `audit_event_key` (`EventKey`) in the same transaction, so concurrent batches
    carrying the same id store it once, and another organization's ids neither block nor reveal
    anything. Of two events sharing an id, the first is kept. Only the events stored are announced.

    Given `keys` (the (organization_id, id) the events will carry), the keys are claimed first and
    the events are then streamed into the COPY as the iterable yields them, so building them
    overlaps the database's index work. The iterable is always consumed to its end, stored or
    not: a consumer that validates as it yields (ingestion) raises there, which aborts the batch.

    Cost on PostgreSQL: one statement for the claim, whatever organizations the batch spans (it also skips
    ids that `record` stored), then one COPY of the new events, then one upsert of their hours'
    counts (`_roll_up`). On SQLite, batched INSERTs.
    """
    if keys is None:
        events = list(events)
        keys = [(_organization(event.organization_id), event.id) for event in events]
    connection = connections[Event.objects.db]
    new: list[Stored] = []
    # One atomic block: a transaction when called outside one (an API request), which spares the
    # savepoint a nested call needs; either way a failed batch leaves neither keys nor events.
    with transaction.atomic(using=connection.alias):
        claimed = _claim(keys, connection) if keys else set()
        fresh = _fresh(events, claimed)
        if not claimed:
            for _ in fresh:  # nothing to store, but every event is still built (and so validated)
                pass
        elif connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                _copy(cursor.cursor, _collect(fresh, new), connection)
        else:
            new = list(fresh)
            _insert_sqlite(new, connection)
        _roll_up(new, connection)
        _announce(new)
    return new


def hour_of(moment: datetime) -> datetime:
    """The first instant of `moment`'s hour, in UTC."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


# Adds a batch's counts to their hours' rows (PostgreSQL and SQLite >= 3.24 alike).
_ROLL_UP_CONFLICT = (
    " ON CONFLICT (organization_id, region, hour) DO UPDATE SET"
    " events = audit_event_rollup.events + EXCLUDED.events,"
    " refused = audit_event_rollup.refused + EXCLUDED.refused,"
    " iam_logs = audit_event_rollup.iam_logs + EXCLUDED.iam_logs"
)
_ROLLUP_FIELDS = [
    EventRollup._meta.get_field(name)
    for name in ("organization_id", "region", "hour", "events", "refused", "iam_logs")
]
_IAM_LOG_METHODS = frozenset(IAM_LOG_METHOD_NAMES)


def _is_iam_log(event: Event | EventRow) -> bool:
    """Whether `event` is an IAM log entry: a successful IAM change (`iam.logs`)."""
    return event.product_name == "iam" and event.status_code == 200 and event.method_name in _IAM_LOG_METHODS


def _roll_up(events: Sequence[Event | EventRow], connection: Any) -> None:
    """Add `events`, just stored, to `EventRollup`: one upsert of a row per organization, region and
    hour among them, in the caller's transaction, so the counts commit (or roll back) with the
    events. Rows go in key order, so two batches touching the same hours lock them in the same
    order and wait for each other rather than deadlock. Nothing stored, no statement."""
    if not events:
        return
    counts: dict[tuple[uuid.UUID | str, str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0])
    for event in events:
        counts_of = counts[(event.organization_id, event.region, hour_of(event.recorded_at))]
        counts_of[0] += 1
        if event.status_code == 403:
            counts_of[1] += 1
        elif _is_iam_log(event):
            counts_of[2] += 1
    merged: dict[tuple[uuid.UUID, str, datetime], list[int]] = {}  # an organization spelled two ways
    for (organization_id, region, hour), numbers in counts.items():
        into = merged.setdefault((_organization(organization_id), region, hour), [0, 0, 0])
        for i, number in enumerate(numbers):
            into[i] += number
    rows = [(*key, *numbers) for key, numbers in sorted(merged.items())]
    if connection.vendor != "postgresql":
        _insert_rows(EventRollup, _ROLLUP_FIELDS, rows, connection, suffix=_ROLL_UP_CONFLICT)
        return
    # One statement of five arrays, however many rows: a batch spanning many organizations and
    # hours (a bulk load) has thousands, which a VALUES list would split in statements of 500.
    columns = list(zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_event_rollup (organization_id, region, hour, events, refused, iam_logs) "
            "SELECT * FROM unnest(%s::uuid[], %s::varchar[], %s::timestamptz[], %s::int[], %s::int[], %s::int[]) "
            "AS counts(organization_id, region, hour, events, refused, iam_logs) ORDER BY 1, 2, 3"
            + _ROLL_UP_CONFLICT,
            [list(column) for column in columns],
        )


def rebuild_rollup(using: str | None = None) -> None:
    """Recount `EventRollup` from the events table, for events stored around the door (a bulk
    load by raw COPY, as `make bench` does), in one transaction."""
    connection = connections[using or Event.objects.db]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {EventRollup._meta.db_table}")
        cursor.execute(rollup_backfill_sql(connection.vendor))


def recount_rollup(*, organization_id: uuid.UUID, before: datetime, using: str) -> None:
    """Recount an organization's hours up to the one holding `before` from the events left: what
    retention calls, in its transaction, once it has removed the events older than `before`."""
    connection = connections[using]
    end = before.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    organization = models.UUIDField().get_db_prep_value(organization_id, connection)
    until = models.DateTimeField().get_db_prep_value(end, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {EventRollup._meta.db_table} WHERE organization_id = %s AND hour < %s",
            [organization, until],
        )
        cursor.execute(
            rollup_backfill_sql(connection.vendor, where="WHERE organization_id = %s AND recorded_at < %s"),
            [organization, until],
        )


def rollup_backfill_sql(vendor: str, *, where: str = "") -> str:
    """INSERT ... SELECT of the stored events' counts per organization, region and hour (those
    `where` keeps, or every one)."""
    methods = ", ".join(f"'{name}'" for name in IAM_LOG_METHOD_NAMES)  # constants of ours
    iam_log = f"product_name = 'iam' AND status_code = 200 AND method_name IN ({methods})"
    if vendor == "postgresql":
        hour = "date_trunc('hour', recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        refused = "COUNT(*) FILTER (WHERE status_code = 403)"
        iam_logs = f"COUNT(*) FILTER (WHERE {iam_log})"
    else:  # SQLite keeps aware datetimes as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        hour = "substr(recorded_at, 1, 13) || ':00:00'"
        refused = "SUM(CASE WHEN status_code = 403 THEN 1 ELSE 0 END)"
        iam_logs = f"SUM(CASE WHEN {iam_log} THEN 1 ELSE 0 END)"
    return (
        "INSERT INTO audit_event_rollup (organization_id, region, hour, events, refused, iam_logs) "
        f"SELECT organization_id, region, {hour}, COUNT(*), {refused}, {iam_logs} FROM audit_event {where} "
        "GROUP BY 1, 2, 3"
    )


def _organization(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _fresh[Stored: (Event, EventRow)](events: Iterable[Stored], claimed: set[Key]) -> Iterator[Stored]:
    """The events whose key was claimed, the first of each; every event is drawn from `events`."""
    for event in events:
        organization_id = event.organization_id
        if type(organization_id) is not uuid.UUID:
            organization_id = _organization(organization_id)
        key = (organization_id, event.id)
        if key in claimed:
            claimed.discard(key)  # a later event with the same id is a duplicate
            yield event


def _claim(keys: Collection[Key], connection: Any) -> set[Key]:
    """Claim the idempotency keys; return those that were new, less any whose event `record`
    stored with that id in that organization.

    PostgreSQL: one INSERT ... ON CONFLICT DO NOTHING RETURNING for the whole batch, whatever
    organizations it spans, in the sorted order of the keys, so that two batches sharing keys
    take their index entries in the same order and wait on each other rather than deadlock; the
    keys it returns are then probed in the events table in the same statement. Keys go as two
    text parameters (`.hex` spells a UUID five times faster than `str`). The probe is by id
    alone, the organization checked on the rows found (OFFSET 0 keeps the planner from pushing
    that test down): with both in one WHERE, a planner that believes an organization small
    (statistics taken before its backlog arrived) reads all its events through the
    organization-time index instead of walking each partition's primary key (`id` first) once.
    SQLite serializes writers (IMMEDIATE transactions): per organization, a read, then the inserts.
    """
    if connection.vendor == "postgresql":
        return _claim_postgresql(keys, connection)
    by_organization: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for organization_id, event_id in keys:
        by_organization[organization_id].add(event_id)
    claimed: set[Key] = set()
    for organization_id, ids in by_organization.items():
        claimed.update(
            (organization_id, event_id) for event_id in _claim_sqlite(organization_id, ids, connection)
        )
    return claimed


def _claim_postgresql(keys: Collection[Key], connection: Any) -> set[Key]:
    qn = connection.ops.quote_name
    # Sorted as hex text, which orders as the UUIDs do and compares far faster than UUID tuples.
    spelled = sorted({(organization_id.hex, event_id.hex) for organization_id, event_id in keys})
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH claimed AS ("
            f"  INSERT INTO {qn(EventKey._meta.db_table)} (organization_id, event_id)"
            f"  SELECT o, k FROM unnest(%s::uuid[], %s::uuid[]) WITH ORDINALITY AS t(o, k, n) ORDER BY n"
            f"  ON CONFLICT DO NOTHING RETURNING organization_id, event_id"
            f") SELECT organization_id, event_id FROM claimed WHERE (organization_id, event_id) NOT IN ("
            f"  SELECT organization_id, id FROM (SELECT id, organization_id FROM {qn(Event._meta.db_table)}"
            f"  WHERE id = ANY(ARRAY(SELECT event_id FROM claimed)) OFFSET 0) AS stored)",
            [
                "{" + ",".join([organization_id for organization_id, _ in spelled]) + "}",
                "{" + ",".join([event_id for _, event_id in spelled]) + "}",
            ],
        )
        return {(organization_id, event_id) for organization_id, event_id in cursor.fetchall()}


def _claim_sqlite(organization_id: uuid.UUID, ids: set[uuid.UUID], connection: Any) -> set[uuid.UUID]:
    ids_list = list(ids)
    known = set(
        EventKey.objects.filter(organization_id=organization_id, event_id__in=ids_list).values_list(
            "event_id", flat=True
        )
    )
    new = ids - known
    key_fields = [EventKey._meta.get_field("organization_id"), EventKey._meta.get_field("event_id")]
    _insert_rows(EventKey, key_fields, [(organization_id, pk) for pk in new], connection)
    stored = set(
        Event.objects.filter(organization_id=organization_id, id__in=list(new)).values_list("id", flat=True)
    )
    return new - stored


def _collect[Stored: (Event, EventRow)](stream: Iterable[Stored], into: list[Stored]) -> Iterator[list[Any]]:
    """Remember each event while handing COPY its values."""
    for event in stream:
        into.append(event)
        yield _copy_values(event if isinstance(event, EventRow) else _row_of(event))


def _row_of(event: Event) -> EventRow:
    values = event.__dict__
    return EventRow(*(values[name] for name in _COLUMNS))


def _insert_sqlite(events: Sequence[Event | EventRow], connection: Any) -> None:
    rows = [event if isinstance(event, EventRow) else _row_of(event) for event in events]
    _insert_rows(Event, Event._meta.concrete_fields, rows, connection)
    for event in events:
        if isinstance(event, Event):  # now as bulk_create leaves them: saved, in this database
            event._state.adding = False
            event._state.db = connection.alias


def _insert_rows(
    model: type[models.Model],
    fields: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    connection: Any,
    *,
    suffix: str = "",
) -> None:
    """INSERT `rows` (values in the order of `fields`) in multi-row statements, each value prepared
    by its field (`get_db_prep_save`, as `bulk_create` does) but without the query compiler, which
    spent three quarters of the demo's 20,000-event load on SQLite assembling SQL. `suffix` ends
    each statement (an ON CONFLICT clause)."""
    qn = connection.ops.quote_name
    # SQLite takes at most 32,766 parameters in one statement (999 before 3.32).
    per_statement = max(1, min(500, connection.features.max_query_params // len(fields)))
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) VALUES "
    prepare = [(i, f.get_db_prep_save) for i, f in enumerate(fields)]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            params = [prep(row[i], connection) for row in batch for i, prep in prepare]
            cursor.execute(head + ", ".join([row_sql] * len(batch)) + suffix, params)


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


def _copy(cursor: Any, rows: Iterable[list[Any]], connection: Any) -> None:
    """COPY rows (from `_copy_values`) into the events table, one `write_row` each, as they come."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in Event._meta.concrete_fields)
    # The raw psycopg cursor bypasses Django's wrapper: map its errors to django.db's.
    with (
        connection.wrap_database_errors,
        cursor.copy(f"COPY {qn(Event._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        write = copy.write_row
        for values in rows:
            write(values)
