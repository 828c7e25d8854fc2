"""Reads of the trail. Every one starts from an organization and a region.

The Events page and the ListEvents API share `EventQuery`, `event_queryset` and `event_page`, so
the console and the SDK see the same events in the same order.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import (
    Count,
    DateTimeField,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone

from audit.models import AuthenticationEvent, Event, EventRollup, PrincipalType
from core import SCALEWAY
from core.ids import uuid7_time
from core.regions import DEFAULT_REGION
from core.replication import replica_alias
from iam.models import Application, Organization, Project, User

DEFAULT_WINDOW = timedelta(hours=1)
# What every EventQuery filters on, key columns (with the organization) of audit_event_org_time_idx.
WINDOW_FIELDS = frozenset({"region", "recorded_after", "recorded_before"})


@dataclass(frozen=True)
class EventQuery:
    """Filters over one organization's events in one region. None means "no filter"."""

    region: str
    recorded_after: datetime | None = None
    recorded_before: datetime | None = None
    project_id: uuid.UUID | None = None
    product_name: str | None = None
    service_name: str | None = None
    method_name: str | None = None
    status: int | None = None
    principal_id: uuid.UUID | None = None
    source_ip: str | None = None  # an address or a CIDR network
    resource_type: str | None = None
    resource_id: str | None = None
    text: str | None = None
    request_id: str | None = None

    @property
    def narrows(self) -> bool:
        """Whether a filter other than the region and the time window applies (as `event_queryset`
        reads them: an empty value filters nothing)."""
        return any(getattr(self, f.name) for f in fields(self) if f.name not in WINDOW_FIELDS)

    @property
    def counts_unbounded(self) -> bool:
        """Whether counting the matches may read as many index entries as the window holds: a
        free text (every trigram candidate is checked again) or an IP network (a /24 of a busy CI
        fleet held 36,000 events of a month at 10 M). The Events page counts these after its rows
        (`audit.views.event_timeline_list`); every other filter is an index range of its own."""
        if self.text:
            return True
        if not self.source_ip:
            return False
        return ipaddress.ip_network(self.source_ip, strict=False).num_addresses > 1

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The time range, with Scaleway's defaults: the last hour, up to now."""
        now = now or timezone.now()
        before = self.recorded_before or now
        after = self.recorded_after or earlier(before, DEFAULT_WINDOW)
        return after, before


EARLIEST = datetime.min.replace(tzinfo=UTC)


LATEST = datetime.max.replace(tzinfo=UTC)


def earlier(moment: datetime, delta: timedelta) -> datetime:
    """`moment - delta`, or the first instant `datetime` holds when that is before year 1."""
    return moment - delta if moment - EARLIEST > delta else EARLIEST


def later(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, or the last instant `datetime` holds when that is after year 9999."""
    return moment + delta if LATEST - moment > delta else LATEST


def event_queryset(
    *,
    organization_id: uuid.UUID,
    query: EventQuery,
    now: datetime | None = None,
    recorded_names: bool = False,
    replica: bool = False,
) -> QuerySet[Event]:
    """The organization's events matching `query`, unordered. Index-driven on (org, region, time).

    `recorded_names`: the free text also matches the name a principal had when the event was
    recorded, where the viewer may see it (see `_text_matches`).
    `replica`: a list's read, which the standby may serve (`core.replication.replica_alias`);
    its timeline and facets follow `qs.db`.
    """
    after, before = query.window(now)
    manager = Event.objects.using(replica_alias()) if replica else Event.objects
    qs = manager.filter(
        organization_id=organization_id, region=query.region, recorded_at__gte=after, recorded_at__lte=before
    )
    if query.project_id:
        qs = qs.filter(project_id=query.project_id)
    if query.product_name:
        qs = qs.filter(product_name=query.product_name)
    if query.service_name:
        qs = qs.filter(service_name=query.service_name)
    if query.method_name:
        qs = qs.filter(method_name=query.method_name)
    if query.status:
        qs = qs.filter(status_code=query.status)
    if query.principal_id:
        qs = qs.filter(principal_id=query.principal_id)
    if query.source_ip:
        network = ipaddress.ip_network(query.source_ip, strict=False)
        if network.num_addresses == 1:
            qs = qs.filter(source_ip=str(network.network_address))
        else:
            qs = qs.filter(source_ip__in_network=str(network))
    if query.resource_type or query.resource_id:
        item = {}
        if query.resource_type:
            item["type"] = query.resource_type
        if query.resource_id:
            item["id"] = query.resource_id
        qs = qs.filter(resources__has_item=item)
    if query.request_id:
        qs = qs.filter(request_id=query.request_id)
    if query.text and query.text.strip():
        qs = qs.annotate(search_text=SearchText()).filter(
            _text_matches(query.text.strip(), organization_id=organization_id, recorded_names=recorded_names)
        )
    return qs


# The event's own columns that free text reads, as the table and the drawer show them.
SEARCHED_COLUMNS = ("method_name", "service_name", "product_name", "user_agent", "request_id")


class SearchText(Func):
    """One lower-cased text of what the row and the drawer show of an event's own columns: the
    method, service, product, user agent, request ID, IP (`host(inet)` on PostgreSQL, as the table
    prints it; a cast would add "/32") and the resources' own strings (their types, IDs and names,
    not the `<type>_info` JSON beside them, nor the JSON's keys).

    One expression rather than a LIKE per column, so that one trigram index serves it: on
    PostgreSQL, audit_event_search_trgm (migration 0007) is a pg_trgm GIN index over exactly the
    SQL compiled here, so a `LIKE '%text%'` on it reads the matching rows' entries instead of
    scanning the window. The resources' strings come from a JSON path (immutable, so indexable)
    rather than the whole JSON, whose trigrams would weigh almost half the table.
    """

    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(*(F(c) for c in SEARCHED_COLUMNS), F("source_ip"), F("resources"))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:  # type: ignore[override]  # Django's Func.as_sql signature, narrowed
        compiled = [compiler.compile(e) for e in self.get_source_expressions()]
        params = tuple(p for _, ps in compiled for p in ps)
        *columns, ip, resources = (sql for sql, _ in compiled)
        if connection.vendor == "postgresql":
            # Literals, not parameters: the index's expression must be this one, constants included.
            ip = f"COALESCE(HOST({ip}), '')"
            resources = f"""(jsonb_path_query_array({resources}, '$[*].* ? (@.type() == "string")'))::text"""
        else:
            ip = f"COALESCE({ip}, '')"
            resources = (
                f"COALESCE((SELECT group_concat(field.value, ' ') FROM json_each({resources}) AS item, "
                "json_each(item.value) AS field WHERE field.type = 'text'), '')"
            )
        return "LOWER(" + " || ' ' || ".join((*columns, ip, resources)) + ")", params


def resolvable_user_ids(organization_id: uuid.UUID) -> QuerySet[Any]:
    """Users the console names in this organization (`principal_labels`): its owner and its
    active members. A subquery: the search and "Unknown" need no extra round trip."""
    owner = Organization.objects.filter(pk=organization_id).values("owner_id")
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(pk__in=owner)
            | Q(memberships__organization_id=organization_id, memberships__removed_at__isnull=True)
        )
        .values("pk")
    )


def unresolved_principal(organization_id: uuid.UUID) -> Q:
    """Events whose principal shows as "Unknown": a user or application no longer resolvable."""
    apps = Application.objects.filter(organization_id=organization_id).values("pk")
    return Q(principal_id__isnull=False) & (
        (Q(principal_type=PrincipalType.USER) & ~Q(principal_id__in=resolvable_user_ids(organization_id)))
        | (Q(principal_type=PrincipalType.APPLICATION) & ~Q(principal_id__in=apps))
    )


def _text_matches(text: str, *, organization_id: uuid.UUID, recorded_names: bool) -> Q:
    """Free text over what the Events table and drawer show, case-insensitive.

    Method, service, product, resources (type, id, name), IP, user agent and request ID match as
    substrings. A principal matches by the name the table shows: a member's or application's
    current name (resolved through subqueries of the organization's members and applications),
    "Unknown", "Scaleway" or "Anonymous". The name recorded at the time matches only where the
    table would show it (`recorded_names`, for viewers who may see principals) and only for
    principals it cannot name any more ("Unknown", with the former name beside it); for anyone
    else that name stays hidden, so it must not select rows either. The scan stays within the
    (organization, region, time) index range of the window; no index serves substrings.
    """
    lowered = text.lower()
    matches = Q(search_text__contains=lowered)
    users, apps = _principals_named(text, organization_id=organization_id)
    if users:
        matches |= Q(principal_type=PrincipalType.USER, principal_id__in=users)
    if apps:
        matches |= Q(principal_type=PrincipalType.APPLICATION, principal_id__in=apps)
    unresolved = unresolved_principal(organization_id)
    if lowered in UNKNOWN.lower():
        matches |= unresolved
    if recorded_names:
        matches |= unresolved & Q(principal_name__icontains=text)
    if lowered in SCALEWAY.lower():
        matches |= Q(principal_type=PrincipalType.SYSTEM)
    if lowered in ANONYMOUS.lower():
        matches |= Q(principal_id__isnull=True) & ~Q(principal_type=PrincipalType.SYSTEM)
    try:
        matches |= Q(principal_id=uuid.UUID(text))  # an "Unknown" row's ID, from its tooltip
    except ValueError:
        pass
    for code, label in STATUS_LABELS.items():
        if lowered in f"{code} {label}".lower():
            matches |= Q(status_code=code)
    if text.isdigit() and len(text) == 3:
        matches |= Q(status_code=int(text))
    return matches


STATUS_LABELS = {200: "Successful", 403: "Forbidden"}  # as the status badges read


def _principals_named(text: str, *, organization_id: uuid.UUID) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The users (their e-mail) and applications (their name) the console names with `text` in
    this organization, in one query.

    Their ids go into the events' query as literal lists rather than subqueries: the planner then
    knows how many rows each principal arm selects (none, most often, and the arm is left out),
    where a subquery's unknown result made it guess a few percent of the window and walk the whole
    window's range instead of the trigram index.
    """
    users = resolvable_user_ids(organization_id).filter(email__icontains=text).annotate(kind=Value(1))
    apps = Application.objects.filter(organization_id=organization_id, name__icontains=text)
    rows = (
        users.order_by()
        .values_list("pk", "kind")
        .union(apps.order_by().annotate(kind=Value(2)).values_list("pk", "kind"))
    )
    named: tuple[list[uuid.UUID], list[uuid.UUID]] = ([], [])
    for pk, kind in rows:
        named[kind - 1].append(pk)
    return named


# --- one event ---------------------------------------------------------------------------------


def event_get(*, organization_id: uuid.UUID, event_id: uuid.UUID) -> Event | None:
    """One of the organization's events, or None (another organization's id is simply not found).

    A UUIDv7 id minted from its event's time (`build_event`) carries it to the millisecond, so the
    first lookup also bounds `recorded_at` and PostgreSQL reads one partition. Producers mint
    their own ids, v7 or not and from any clock: when the first guess misses, the id alone within
    the organization finds it (the primary key, `id` first, of each partition). Cost: one query
    for ids minted from their event's time, two otherwise.
    """
    qs = Event.objects.filter(organization_id=organization_id, id=event_id)
    if event_id.version == 7:
        try:
            at = uuid7_time(event_id)
        except (ValueError, OverflowError, OSError):  # 48 bits of milliseconds reach beyond year 9999
            pass
        else:
            low, high = earlier(at, ID_CLOCK_SKEW), later(at, ID_CLOCK_SKEW)
            event: Event | None = qs.filter(recorded_at__gte=low, recorded_at__lt=high).first()
            if event is not None:
                return event
    return qs.first()


# An id minted from recorded_at (build_event) matches it to the millisecond; a producer that mints
# its own ids may be a little off. A day still prunes every partition but one or two.
ID_CLOCK_SKEW = timedelta(days=1)


# --- principals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrincipalLabel:
    """How the console names an event's principal."""

    name: str
    principal_id: uuid.UUID | None = None
    kind: str = ""  # user / application / system / anonymous
    resolved: bool = True
    # The name recorded at the time, for an "Unknown" principal, shown only to viewers who may
    # see principals (`events_with_principals(recorded_names=True)`).
    former_name: str = ""

    @property
    def is_unknown(self) -> bool:
        return not self.resolved


UNKNOWN = "Unknown"
ANONYMOUS = "Anonymous"


def principal_labels(*, organization: Organization, events: list[Event]) -> dict[uuid.UUID, PrincipalLabel]:
    """Name the principals of `events` as they stand now, in at most one query.

    A user resolves while they own or still belong to the organization, an application while it
    exists there. Anyone else (a removed member, a deleted user or application) is "Unknown", with
    their id kept. Returns labels by principal id; see `principal_label` for system events.
    """
    user_ids = {e.principal_id for e in events if e.principal_id and e.principal_type == PrincipalType.USER}
    app_ids = {
        e.principal_id for e in events if e.principal_id and e.principal_type == PrincipalType.APPLICATION
    }
    names: dict[uuid.UUID, str] = {}
    queries: list[QuerySet[Any, tuple[uuid.UUID, Any]]] = []
    if user_ids:
        queries.append(
            User.objects.filter(pk__in=user_ids, is_active=True)
            .filter(
                Q(pk=organization.owner_id)
                | Q(memberships__organization=organization, memberships__removed_at__isnull=True)
            )
            .annotate(label=F("email"))
            .values_list("id", "label")
            .order_by()
        )
    if app_ids:
        queries.append(
            Application.objects.filter(pk__in=app_ids, organization=organization)
            .annotate(label=F("name"))
            .values_list("id", "label")
            .order_by()
        )
    if queries:
        # One round trip whatever the mix of users and applications on the page.
        combined = queries[0].union(*queries[1:], all=True) if len(queries) > 1 else queries[0]
        names = {uuid.UUID(str(pk)): label for pk, label in combined}
    labels: dict[uuid.UUID, PrincipalLabel] = {}
    for principal_id in user_ids | app_ids:
        kind = PrincipalType.USER if principal_id in user_ids else PrincipalType.APPLICATION
        if principal_id in names:
            labels[principal_id] = PrincipalLabel(names[principal_id], principal_id, kind)
        else:
            labels[principal_id] = PrincipalLabel(UNKNOWN, principal_id, kind, resolved=False)
    return labels


def principal_label(event: Event, labels: dict[uuid.UUID, PrincipalLabel]) -> PrincipalLabel:
    if event.principal_type == PrincipalType.SYSTEM:
        return PrincipalLabel(SCALEWAY, None, PrincipalType.SYSTEM)
    if event.principal_id is None:
        return PrincipalLabel(ANONYMOUS, None, PrincipalType.ANONYMOUS)
    return labels.get(event.principal_id) or PrincipalLabel(
        UNKNOWN, event.principal_id, event.principal_type, resolved=False
    )


def events_with_principals(
    *, organization: Organization, events: list[Event], recorded_names: bool = False
) -> list[Event]:
    """Attach `principal_label` to each event (one query at most, see `principal_labels`).

    `recorded_names` (viewers who may see principals): an "Unknown" principal's label also
    carries the name recorded with the event, which the table marks as a former member's.
    """
    labels = principal_labels(organization=organization, events=events)
    for event in events:
        label = principal_label(event, labels)
        if recorded_names and label.is_unknown and event.principal_name:
            label = replace(label, former_name=event.principal_name)
        event.principal_label = label  # type: ignore[attr-defined]  # attached for the templates
    return events


# --- timeline ----------------------------------------------------------------------------------

# Bucket widths the timeline may use, in seconds. The smallest that keeps the bar count under
# TIMELINE_MAX_BUCKETS wins, so the chart (and the GROUP BY) stays small for any window.
BUCKET_WIDTHS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
TIMELINE_MAX_BUCKETS = 60


class TimeBucket(Func):
    """floor((epoch(recorded_at) - start) / width): the bucket number, on PostgreSQL and SQLite."""

    output_field = IntegerField()

    def __init__(self, expression: str, *, start: int, width: int) -> None:
        super().__init__(expression)
        self.start, self.width = start, width

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:  # type: ignore[override]  # Django's Func.as_sql signature, narrowed
        column, params = compiler.compile(self.get_source_expressions()[0])
        sql, more = self.sql(column, connection.vendor, start=self.start, width=self.width)
        return sql, (*params, *more)

    @staticmethod
    def sql(column: str, vendor: str, *, start: int, width: int) -> tuple[str, tuple[Any, ...]]:
        if vendor == "postgresql":
            return f"FLOOR((EXTRACT(EPOCH FROM {column}) - %s) / %s)::bigint", (start, width)
        # SQLite keeps aware datetimes as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"; strftime('%s')
        # reads them as epoch seconds, but rounds a fraction (…:59.999999 would count in the next
        # bucket): the whole seconds only.
        return f"((CAST(strftime('%%s', substr({column}, 1, 19)) AS INTEGER) - %s) / %s)", (start, width)


class TimeBin(Func):
    """date_bin(width, recorded_at, start): the first instant of the row's bucket (PostgreSQL >= 14).

    Integer arithmetic on microseconds: per row about half the cost of TimeBucket's numeric
    EXTRACT and division, which is what a timeline grouping tens of thousands of matches (a busy
    CIDR over a month) spends its time on."""

    output_field = DateTimeField()

    def __init__(self, expression: str, *, start: int, width: int) -> None:
        super().__init__(expression)
        self.start, self.width = start, width

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:  # type: ignore[override]  # Django's Func.as_sql signature, narrowed
        column, params = compiler.compile(self.get_source_expressions()[0])
        sql, (width, start) = self.sql(column, start=self.start, width=self.width)
        return sql, (width, *params, start)

    @staticmethod
    def sql(column: str, *, start: int, width: int) -> tuple[str, tuple[Any, ...]]:
        """The same for a column of a FROM subquery (no parameters in `column`)."""
        return f"date_bin(%s::interval, {column}, to_timestamp(%s))", (f"{width} seconds", start)


@dataclass(frozen=True)
class TimelineBucket:
    start: datetime
    end: datetime
    total: int
    denied: int

    @property
    def allowed(self) -> int:
        return self.total - self.denied


@dataclass
class Timeline:
    start: datetime
    end: datetime
    width: timedelta
    buckets: list[TimelineBucket]
    # Counted with a bound (`event_timeline(bound=…)`) and more events match: how many were
    # counted (the buckets are then empty), and the planner's estimate of the matches (PostgreSQL).
    more_than: int | None = None
    estimate: int | None = None

    @property
    def total(self) -> int:
        return sum(b.total for b in self.buckets)

    @property
    def denied(self) -> int:
        return sum(b.denied for b in self.buckets)

    @property
    def peak(self) -> int:
        return max((b.total for b in self.buckets), default=0)


def bucket_width(span: timedelta) -> int:
    seconds = max(int(span.total_seconds()), 1)
    for width in BUCKET_WIDTHS:
        if seconds / width <= TIMELINE_MAX_BUCKETS:
            return width
    return -(-seconds // TIMELINE_MAX_BUCKETS // 86400) * 86400  # whole days


# The width of an `EventRollup` row: a timeline whose buckets are whole multiples of it reads them.
ROLLUP_WIDTH = 3600


def event_timeline(
    qs: QuerySet[Event],
    *,
    organization_id: uuid.UUID,
    query: EventQuery,
    start: datetime,
    end: datetime,
    bound: int | None = None,
) -> Timeline:
    """Events (and the 403s among them) per time bucket of [start, end], in one query.

    With a `bound`, at most `bound` + 1 matches are read (`_grouped_first`): when more match,
    the timeline has no buckets, says how many it counted (`more_than`), and carries the
    planner's estimate of the matches. For filters that no index counts (a free text, an IP
    network: `EventQuery.counts_unbounded`), whose exact count reads every match.

    `qs` is `event_queryset(organization_id=organization_id, query=query)` and [start, end] its
    window. At most TIMELINE_MAX_BUCKETS rows come back. Buckets are aligned on whole multiples of
    the width (in UTC), so the bars stay put as "now" moves.

    Unfiltered (`query.narrows` false) with buckets of whole hours (windows longer than 30 hours),
    the window's whole hours are counted from `EventRollup` (one row an hour, kept by the door)
    and only its partial first and last hours from the index (`_bucket_counts_with_rollup`): the
    cost no longer grows with the events in the window. Otherwise, unfiltered on PostgreSQL, one
    index range count per bucket (`_bucket_counts_from_index`); with a narrowing filter, whose own
    index yields few rows, a GROUP BY over those.
    """
    width = bucket_width(end - start)
    # Aligned down, but not before the first instant `datetime` holds (a window from year 1).
    origin = max(int(start.timestamp()) // width * width, int(EARLIEST.timestamp()))
    step = timedelta(seconds=width)
    first = datetime.fromtimestamp(origin, tz=UTC)
    count = max(-(-(end - first) // step), 0)
    whole_hours = _whole_hours(start, end) if not query.narrows and width % ROLLUP_WIDTH == 0 else None
    if bound is not None:
        counts, found = _grouped_first(qs, origin=origin, width=width, limit=bound + 1)
        if found > bound:
            return Timeline(start, end, step, [], more_than=bound, estimate=_planned_rows(qs))
    elif whole_hours:
        counts = _bucket_counts_with_rollup(
            qs,
            organization_id=organization_id,
            region=query.region,
            hours=whole_hours,
            origin=origin,
            width=width,
        )
    elif connections[qs.db].vendor == "postgresql" and not query.narrows:
        counts = _bucket_counts_from_index(qs, origin=origin, width=width, count=count)
    else:
        # A narrowing filter (status, method, principal, resource...) has its own index, which
        # yields few rows: grouping those is cheap. COUNT(*) needs no column of the row.
        counts = {
            bucket: (total, denied) for bucket, total, denied in _grouped(qs, origin=origin, width=width)
        }
    buckets = []
    for n in range(count):
        total, denied = counts.get(n, (0, 0))
        buckets.append(TimelineBucket(later(first, n * step), later(first, (n + 1) * step), total, denied))
    return Timeline(start, end, step, buckets)


def _whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """[first, last): the whole UTC hours within [start, end], or None when there is none."""
    first = datetime.fromtimestamp(-(-int(start.timestamp()) // ROLLUP_WIDTH) * ROLLUP_WIDTH, tz=UTC)
    if first < start:  # start has microseconds past a whole second
        first += timedelta(seconds=ROLLUP_WIDTH)
    last = datetime.fromtimestamp(int(end.timestamp()) // ROLLUP_WIDTH * ROLLUP_WIDTH, tz=UTC)
    return (first, last) if first < last else None


def _grouped(qs: QuerySet[Event], *, origin: int, width: int) -> Iterator[tuple[int, int, int]]:
    """(bucket number, total, denied) of `qs`'s events, grouped by bucket, unordered. COUNT(*)
    needs no column of the row; on PostgreSQL the rows are grouped by `date_bin` (TimeBin)."""
    counted = {"total": Count("*"), "denied": Count("recorded_at", filter=Q(status_code=403))}
    postgresql = connections[qs.db].vendor == "postgresql"
    bucket = (TimeBin if postgresql else TimeBucket)("recorded_at", start=origin, width=width)
    rows: Any = qs.annotate(bucket=bucket).values("bucket").annotate(**counted).order_by()
    for first, total, denied in rows.values_list("bucket", "total", "denied"):
        yield _bucket_number(first, origin=origin, width=width), total, denied


def _bucket_number(first: datetime | int, *, origin: int, width: int) -> int:
    """A bucket's number from what the grouping gave: its first instant (TimeBin, PostgreSQL) or
    its number already (TimeBucket, SQLite)."""
    return (int(first.timestamp()) - origin) // width if isinstance(first, datetime) else int(first)


def _grouped_first(
    qs: QuerySet[Event], *, origin: int, width: int, limit: int
) -> tuple[dict[int, tuple[int, int]], int]:
    """The counts per bucket of the first `limit` of `qs`'s events the database comes upon, in no
    order, and how many those were: one statement, a GROUP BY over the LIMITed matches. Its cost
    is that of `limit` matches, however many more there are."""
    first_sql, params = qs.order_by().values("recorded_at", "status_code")[:limit].query.sql_with_params()
    if connections[qs.db].vendor == "postgresql":
        bucket, bucket_params = TimeBin.sql("found.recorded_at", start=origin, width=width)
    else:
        bucket, bucket_params = TimeBucket.sql("found.recorded_at", "sqlite", start=origin, width=width)
    with connections[qs.db].cursor() as cursor:
        cursor.execute(
            f"SELECT {bucket} AS bucket, COUNT(*), SUM(CASE WHEN found.status_code = 403 THEN 1 ELSE 0 END) "
            f"FROM ({first_sql}) AS found GROUP BY 1",
            (*bucket_params, *params),
        )
        rows = cursor.fetchall()
    counts = {
        _bucket_number(first, origin=origin, width=width): (total, denied) for first, total, denied in rows
    }
    return counts, sum(total for total, _ in counts.values())


def _planned_rows(qs: QuerySet[Event]) -> int | None:
    """The planner's estimate of how many events `qs` holds (PostgreSQL's EXPLAIN: no row is
    read), or None on SQLite, which makes none."""
    if connections[qs.db].vendor != "postgresql":
        return None
    sql, params = qs.order_by().values("pk").query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):  # a driver that leaves json as text
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _edge(qs: QuerySet[Event], bucket: int) -> QuerySet[Any]:
    """(bucket, total, denied): one row counting `qs`'s events, all of them in bucket `bucket`.
    The constant "group" is one Django leaves out of GROUP BY: a plain index range count."""
    return (
        qs.order_by()
        .annotate(bucket=Value(bucket, IntegerField()))
        .values("bucket")
        .annotate(total=Count("*"), denied=Count("recorded_at", filter=Q(status_code=403)))
    )


def _bucket_counts_with_rollup(
    qs: QuerySet[Event],
    *,
    organization_id: uuid.UUID,
    region: str,
    hours: tuple[datetime, datetime],
    origin: int,
    width: int,
) -> dict[int, tuple[int, int]]:
    """The unfiltered window's counts per bucket: its whole hours [first, last) from
    `EventRollup`, and the events before `first` and from `last` on (less than an hour at each
    edge) from the index, in one UNION ALL. `width` is a whole number of hours and `origin` a
    multiple of it, so bucket bounds are whole hours: each rollup hour, and each edge, falls
    within one bucket."""
    first, last = hours
    rolled = (
        EventRollup.objects.using(qs.db)
        .filter(organization_id=organization_id, region=region, hour__gte=first, hour__lt=last)
        .annotate(bucket=TimeBucket("hour", start=origin, width=width))
        .values("bucket")
        .annotate(total=Sum("events"), denied=Sum("refused"))
        .order_by()
    )
    lead = (int(first.timestamp()) - 1 - origin) // width  # the bucket of the hour before `first`
    tail = (int(last.timestamp()) - origin) // width
    rows = (
        _edge(qs.filter(recorded_at__lt=first), lead)
        .union(_edge(qs.filter(recorded_at__gte=last), tail), rolled, all=True)
        .order_by()
    )
    counts: dict[int, tuple[int, int]] = {}
    for row in rows:
        total, denied = counts.get(int(row["bucket"]), (0, 0))
        counts[int(row["bucket"])] = (total + int(row["total"]), denied + int(row["denied"]))
    return counts


def _bucket_counts_from_index(
    qs: QuerySet[Event], *, origin: int, width: int, count: int
) -> dict[int, tuple[int, int]]:
    """One index range count per bucket, joined LATERAL to the bucket numbers (PostgreSQL).

    For a window filtered on nothing but region and time: the widest scan the page makes.
    A GROUP BY over the bucket expression reads every row of the window, computes the
    expression on each and sorts them all (the planner cannot know the expression has at most
    TIMELINE_MAX_BUCKETS values, so it spills the sort to disk): ~450 ms for 30 days of an
    organization with a million events (`manage.py bench_events`). Counting each bucket's slice
    of `audit_event_org_time_idx`, which carries `status_code` for this (an index-only scan),
    touches the same index entries and nothing else: ~50-120 ms. The ORM has no LATERAL, hence
    the SQL around the ORM-built count.
    """
    bucket_start = RawSQL("to_timestamp(%s::bigint + buckets.n * %s::bigint)", (origin, width))
    bucket_end = RawSQL("to_timestamp(%s::bigint + (buckets.n + 1) * %s::bigint)", (origin, width))
    # One row per slice: a constant "group" that Django leaves out of GROUP BY (no GROUP BY left).
    per_bucket = (
        qs.filter(recorded_at__gte=bucket_start, recorded_at__lt=bucket_end)
        .order_by()
        .annotate(slice=Value(1))
        .values("slice")
        .annotate(total=Count("*"), denied=Count("recorded_at", filter=Q(status_code=403)))
        .values("total", "denied")
    )
    sql, params = per_bucket.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(
            "SELECT buckets.n, slice.total, slice.denied FROM generate_series(0, %s) AS buckets(n) "
            f"CROSS JOIN LATERAL ({sql}) AS slice WHERE slice.total > 0",
            (count - 1, *params),
        )
        return {n: (total, denied) for n, total, denied in cursor.fetchall()}


# --- facets ------------------------------------------------------------------------------------

# How many of the newest matching events the facets count, and how many values each one lists.
# The sample is the first FACET_SAMPLE entries of the index range the page itself reads (newest
# first, the keyset order), so its cost does not grow with the window: 30 days of a busy
# organization cost what the last hour does (`manage.py bench_events`, "facets" cases).
FACET_SAMPLE = 2000
FACET_LIMIT = 5


@dataclass(frozen=True)
class FacetValue:
    value: str  # what the filter takes ("" when no filter selects it, e.g. Scaleway's actions)
    count: int
    label: PrincipalLabel | None = None  # principals only
    product: str = ""  # methods only: the product the method belongs to


@dataclass
class Facets:
    sampled: int  # events counted
    complete: bool  # False when more events match than were counted (the newest `sampled`)
    principals: list[FacetValue]
    ips: list[FacetValue]
    methods: list[FacetValue]
    products: list[FacetValue]
    statuses: list[FacetValue]
    since: datetime | None = None  # the scan's bound (`facet_scan_bound`), when there is one


FACET_COLUMNS = (
    "principal_type", "principal_id", "principal_name", "source_ip", "product_name", "method_name", "status_code",
)  # fmt: skip


def _facets_sql(sample_sql: str, vendor: str, limit: int) -> str:
    """One statement: the sample (the ORM's SQL, its LIMIT sample + 1), then each facet's top
    `limit` values grouped from its first `sample` rows, and how many rows it found (sample + 1
    says there are more). Rows: (facet, value, value, value, n), each facet's in its order.

    Grouping in the database sends back a few dozen rows instead of the sample's thousands: the
    facets' request then costs little more than any signed-in request (`bench_events`).
    PostgreSQL groups the sample in one pass (`_facets_sql_postgresql`); SQLite, which has no
    grouping sets, once per facet, with the same rows."""
    if vendor == "postgresql":
        return _facets_sql_postgresql(sample_sql, limit)
    text = "TEXT" if vendor == "sqlite" else "text"
    ip = "source_ip" if vendor == "sqlite" else "HOST(source_ip)"  # as the table shows it, no "/32"

    def top(facet: str, columns: str, *, extra: str = "NULL", order: str = "n DESC") -> str:
        first, *rest = [c.strip() for c in columns.split(",")]
        second = rest[0] if rest else "NULL"
        return (
            f"SELECT * FROM (SELECT '{facet}' AS facet, CAST({first} AS {text}) AS a, "
            f"CAST({second} AS {text}) AS b, CAST({extra} AS {text}) AS c, COUNT(*) AS n "
            f"FROM facet_sample GROUP BY {columns} ORDER BY {order}, 2, 3 LIMIT {int(limit)}) AS t_{facet}"
        )

    branches = [
        top("principal", "principal_type, principal_id", extra="MAX(principal_name)"),
        top("ip", ip),
        top("method", "product_name, method_name"),
        top("product", "product_name"),
        top("status", "status_code", order="status_code"),
        "SELECT 'sampled', NULL, NULL, NULL, COUNT(*) FROM facet_sample_all",
    ]
    # The sample's own LIMIT is `sample + 1`; the outer one keeps the counts to `sample` (%s).
    # NOT MATERIALIZED: each branch reads the sample's one copy through that LIMIT rather than
    # a second copy of it: ~2 ms less for 30 days (EXPLAIN ANALYZE, 7 -> 5 ms on a busy machine),
    # a good part of what the facets add to the Events page (`bench_events`).
    return (
        f"WITH facet_sample_all AS ({sample_sql}), "
        "facet_sample AS NOT MATERIALIZED (SELECT * FROM facet_sample_all LIMIT %s) "
        + " UNION ALL ".join(branches)
    )


# GROUPING(principal_type, ip, method_name, product_name, status_code) of each grouping set: a
# bit is set for each of these columns that the set leaves out.
_FACET_SETS = {15: "principal", 23: "ip", 25: "method", 29: "product", 30: "status"}


def _facets_sql_postgresql(sample_sql: str, limit: int) -> str:
    """`_facets_sql` with GROUPING SETS: one pass over the sample fills every facet's counts,
    where five GROUP BYs read it five times: 13-21% less time for the statement (median of 100
    alternating runs on the `bench_events` trail, busy machine: 9.7 -> 8.5 ms for a day, 7.5 ->
    6.2 for 30 days, 7.8 -> 6.2 for 30 days of 403s). Each facet's top `limit` by ROW_NUMBER,
    in the other form's order: the most frequent first, ties by value; statuses by code."""
    which = " ".join(f"WHEN {bits} THEN '{facet}'" for bits, facet in _FACET_SETS.items())
    return (
        f"WITH facet_sample_all AS ({sample_sql}), "
        "facet_counts AS (SELECT GROUPING(principal_type, ip, method_name, product_name, status_code) AS g, "
        "principal_type::text AS principal_type, principal_id::text AS principal_id, "
        "MAX(principal_name) AS principal_name, ip, product_name::text AS product_name, "
        "method_name::text AS method_name, status_code, COUNT(*) AS n "
        # HOST(): the IP as the table shows it, no "/32".
        "FROM (SELECT *, HOST(source_ip) AS ip FROM facet_sample_all LIMIT %s) AS facet_sample "
        "GROUP BY GROUPING SETS ((principal_type, principal_id), (ip), (product_name, method_name), "
        "(product_name), (status_code))), "
        "ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY g ORDER BY "
        "CASE WHEN g = 30 THEN status_code ELSE -n END, principal_type, principal_id, ip, "
        "product_name, method_name) AS r FROM facet_counts) "
        f"(SELECT CASE g {which} END, "
        "CASE g WHEN 15 THEN principal_type WHEN 23 THEN ip WHEN 30 THEN status_code::text "
        "ELSE product_name END, "
        "CASE g WHEN 15 THEN principal_id WHEN 25 THEN method_name END, "
        "CASE g WHEN 15 THEN principal_name END, n "
        f"FROM ranked WHERE r <= {int(limit)} ORDER BY g, r) "
        "UNION ALL (SELECT 'sampled', NULL, NULL, NULL, COUNT(*) FROM facet_sample_all)"
    )


# Free text and IPs have no index: the newest matches of a rare term may lie anywhere in the
# window, and finding FACET_SAMPLE of them reads the whole window, as the timeline does (~0.5 s
# for 30 days of 73k events, twice the page's time). Their facets count the matches among the
# window's newest FACET_SCAN events instead.
FACET_SCAN = 10_000


def facet_scan_bound(
    *,
    organization_id: uuid.UUID,
    query: EventQuery,
    now: datetime | None = None,
    scan: int = FACET_SCAN,
    replica: bool = False,
) -> datetime | None:
    """The time of the window's `scan`-th newest event, when `query` filters on what no index
    serves (free text, an IP) and the window holds more: the facets then read from it on. One
    query along `audit_event_org_time_idx` (index only), none for other filters."""
    if not (query.text or query.source_ip):
        return None
    window = event_queryset(
        organization_id=organization_id,
        query=replace(query, text=None, source_ip=None),
        now=now,
        replica=replica,
    )
    return (
        window.order_by("-recorded_at", "-id").values_list("recorded_at", flat=True)[scan - 1 : scan].first()
    )


def event_facets(
    qs: QuerySet[Event],
    *,
    organization: Organization,
    recorded_names: bool = False,
    since: datetime | None = None,
    sample: int = FACET_SAMPLE,
    limit: int = FACET_LIMIT,
) -> Facets:
    """The top principals, IPs, methods, products and statuses of `qs` (`event_queryset`), counted
    over its newest `sample` events. Two queries: the sample, read along the index that serves
    the page's own filters (newest first, as the list), grouped in the database (`_facets_sql`);
    and the principals' names (`events_with_principals`), as the Events table names them for
    this viewer. The Events page does not wait for them: they come in a request of their own
    (`audit:event_facets`). ~10 ms for 30 days of 110k events (`bench_events`), ~3 ms for an hour. The sample of refused
    events (the status filter) comes from `audit_event_refused_idx` alone, which carries
    FACET_COLUMNS: refused events lie a table page apart, and reading them there cost as much
    as the grouping.
    """
    if since is not None:
        qs = qs.filter(recorded_at__gte=since)
    sample_qs = qs.order_by("-recorded_at", "-id").values(*FACET_COLUMNS)[: sample + 1]
    sample_sql, params = sample_qs.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(_facets_sql(sample_sql, connections[qs.db].vendor, limit), (*params, sample))
        grouped = cursor.fetchall()
    seen = next((n for facet, *_, n in grouped if facet == "sampled"), 0)
    complete = seen <= sample
    principals: Counter[tuple[str, uuid.UUID | None]] = Counter()
    former: dict[uuid.UUID | None, str] = {}
    ips: Counter[str] = Counter()
    methods: Counter[tuple[str, str]] = Counter()
    products: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for facet, first, second, third, n in grouped:
        if facet == "principal":
            principal_id = uuid.UUID(second) if second else None
            principals[(first, principal_id)] = n
            former[principal_id] = third or ""
        elif facet == "ip":
            ips[first or ""] = n
        elif facet == "method":
            methods[(first, second)] = n
        elif facet == "product":
            products[first] = n
        elif facet == "status":
            statuses[int(first)] = n
    top_principals = principals.most_common(limit)
    events = [
        # Unsaved, with only what naming reads.
        Event(principal_type=kind, principal_id=principal_id, principal_name=former.get(principal_id, ""))
        for (kind, principal_id), _ in top_principals
    ]
    events_with_principals(organization=organization, events=events, recorded_names=recorded_names)
    return Facets(
        sampled=min(seen, sample),
        complete=complete,
        since=since,
        principals=[
            FacetValue(str(principal_id or ""), count, event.principal_label)  # type: ignore[attr-defined]  # events_with_principals
            for ((_, principal_id), count), event in zip(top_principals, events, strict=True)
        ],
        ips=[FacetValue(ip, count) for ip, count in ips.most_common(limit)],
        methods=[FacetValue(m, count, product=p) for (p, m), count in methods.most_common(limit)],
        products=[FacetValue(product, count) for product, count in products.most_common(limit)],
        statuses=[FacetValue(str(status), count) for status, count in sorted(statuses.items())],
    )


# --- sign-ins ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInQuery:
    """Filters over one organization's console sign-ins. None means "no filter"."""

    region: str
    recorded_after: datetime
    recorded_before: datetime
    result: str | None = None  # "success", "failure" (any failure) or "throttled"
    email: str | None = None  # part of the e-mail tried, any case
    source_ip: str | None = None  # an address or a CIDR network


def sign_in_queryset(
    *, organization_id: uuid.UUID, query: SignInQuery, replica: bool = False
) -> QuerySet[AuthenticationEvent]:
    """The organization's sign-in attempts matching `query`, unordered (`replica`: see event_queryset).

    Sign-ins are global: like ListAuthenticationEvents, they are listed under fr-par and no other
    region. The (organization, time) range of `audit_authevent_org_time_idx` bounds the scan; the
    other filters apply to its rows (one per sign-in attempt: few beside the events).
    """
    if query.region != DEFAULT_REGION:
        return AuthenticationEvent.objects.none()
    manager = AuthenticationEvent.objects.using(replica_alias()) if replica else AuthenticationEvent.objects
    qs = manager.filter(
        organization_id=organization_id,
        recorded_at__gte=query.recorded_after,
        recorded_at__lte=query.recorded_before,
    )
    if query.result == "throttled":
        qs = qs.filter(
            result=AuthenticationEvent.Result.FAILURE,
            failure_reason=AuthenticationEvent.FailureReason.THROTTLED,
        )
    elif query.result:
        qs = qs.filter(result=query.result)
    if query.email:
        qs = qs.filter(email__icontains=query.email)
    if query.source_ip:
        network = ipaddress.ip_network(query.source_ip, strict=False)
        if network.num_addresses == 1:
            qs = qs.filter(source_ip=str(network.network_address))
        else:
            qs = qs.filter(source_ip__in_network=str(network))
    return qs


# A source with this many failed sign-ins within BURST_SPAN is flagged as a possible brute force.
BURST_FAILURES = 5
BURST_SPAN = timedelta(minutes=15)
FAILED_SOURCES = 5  # sources listed above the sign-ins


@dataclass(frozen=True)
class FailedSource:
    """The failed sign-ins from one IP in the window."""

    source_ip: str | None
    failures: int
    throttled: int
    emails: int
    first: datetime
    last: datetime

    @property
    def is_burst(self) -> bool:
        return self.failures >= BURST_FAILURES and self.last - self.first <= BURST_SPAN


def sign_in_failed_sources(
    qs: QuerySet[AuthenticationEvent], *, limit: int = FAILED_SOURCES
) -> list[FailedSource]:
    """The IPs with the most failed sign-ins in `qs` (`sign_in_queryset`), most first. One query,
    a GROUP BY over the failures of the window (the index range), `limit` rows back."""
    rows = (
        qs.filter(result=AuthenticationEvent.Result.FAILURE)
        .order_by()
        .values("source_ip")
        .annotate(
            failures=Count("*"),
            throttled=Count("id", filter=Q(failure_reason=AuthenticationEvent.FailureReason.THROTTLED)),
            emails=Count("email", distinct=True),
            first=Min("recorded_at"),
            last=Max("recorded_at"),
        )
        .order_by("-failures", "-last")[:limit]
    )
    return [FailedSource(**row) for row in rows]


# --- projects ----------------------------------------------------------------------------------


def project_list(*, organization: Organization) -> list[Project]:
    """The organization's projects by name, for the project drop-down. One query."""
    return list(Project.objects.filter(organization=organization).order_by("name"))
