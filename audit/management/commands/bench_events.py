"""manage.py bench_events: the Events page and ListEvents, timed on a million events (PostgreSQL).

Run it on a database of its own (events are append-only: what it loads stays):
`DATABASE_URL=postgres://…/at_bench manage.py migrate && manage.py bench_events`.

It loads `--events` events (default 1,000,000) for one big organization, "Events benchmark", plus
`--noise` more spread over four other organizations, over the last `--days` days (default 60),
interleaved in time order as a live trail receives them, through `audit.services.record_rows`
(the ingestion door: `event_row` builds, COPY stores). `--reuse` measures what an earlier run
loaded. Then `VACUUM ANALYZE audit_event`, and each case runs `--runs` times after one untimed
warm-up; it prints the median and 95th percentile, and the EXPLAIN ANALYZE summary (the indexes
used, how many partitions were read) of the queries behind the main cases.

The windows end at the newest event loaded, not at "now", so a reused load measures the same
thing days later. The cases:
- the selectors the Events page calls (`audit.selectors`): the first page of the last hour, 24 h
  and 30 days, a page 100 pages deep through the keyset cursor, every filter (first page and
  timeline), the timeline aggregate, and the drawer's `event_get`;
- the whole Events page through Django's test client, signed in as the organization's auditor;
- ListEvents through the API view, with the auditor's API key.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count, Max
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from audit.catalogue import PRODUCTS, LocalityKind, Product
from audit.ids import uuid7
from audit.models import Event, PrincipalType
from audit.partitions import ensure_partitions
from audit.selectors import (
    Cursor,
    EventQuery,
    event_get,
    event_page,
    event_queryset,
    event_timeline,
    events_with_principals,
)
from audit.services import Actor, EventRow, event_row, record_rows
from iam.models import Application, Membership, Organization, Policy, Project, Rule, User
from iam.services import api_key_create

BIG = "Events benchmark"
NOISE = tuple(f"Events benchmark noise {i}" for i in range(1, 5))
DOMAIN = "bench-events.invalid"
AUDITOR = f"auditor@{DOMAIN}"
REGION = "fr-par"
PAGE_SIZE = 50
CHUNK = 10_000  # events per record_rows call (one transaction, one COPY)
REGION_WEIGHTS = {"fr-par": 6, "nl-ams": 3, "pl-waw": 1}
# Working hours (Paris) are busy, nights quiet, weekends a third.
HOUR_WEIGHTS = [0.12] * 7 + [0.5, 0.9] + [1.0] * 10 + [0.6, 0.4, 0.3, 0.2, 0.15]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
AGENTS = (
    BROWSER,
    "scaleway-cli/2.35.0 scaleway-sdk-go/v1.0.0-beta.30 (go1.23.2; darwin; arm64)",
    "scaleway-sdk-go/v1.0.0-beta.30 (go1.23.2; linux; amd64) terraform-provider/v2.49.0 terraform/1.9.8",
    "scaleway-sdk-python/2.12.0 (python 3.12.1; linux)",
)
CI_NETWORK = "10.64.0.0/16"  # the applications (CI runners) call from inside a VPC
TEXT = "stripe"  # free text: a secret's name, in the resources' JSON


# --- the organizations ---------------------------------------------------------------------------


@dataclass
class Tenant:
    organization: Organization
    projects: list[Project]
    principals: list[Actor]  # with their usual IP; weights fall off as 1/rank
    weights: list[float]


def _tenant(name: str, *, users: int, applications: int) -> Tenant:
    """An organization with projects, member users and applications, made once (bulk, no passwords)."""
    slug = name.lower().replace(" ", "-")
    owner, _ = User.objects.get_or_create(email=f"owner@{slug}.{DOMAIN}", defaults={"username": slug})
    organization, _ = Organization.objects.get_or_create(name=name, defaults={"owner": owner})
    Membership.objects.get_or_create(organization=organization, user=owner)
    projects = [
        Project.objects.get_or_create(organization=organization, name=project)[0]
        for project in ("web-shop", "data-lake", "internal-tools")
    ]
    emails = [f"dev{i:02}@{slug}.{DOMAIN}" for i in range(users)]
    existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    made = User.objects.bulk_create(
        [User(email=e, username=e, password="!") for e in emails if e not in existing]
    )
    Membership.objects.bulk_create([Membership(organization=organization, user=u) for u in made])
    people = list(User.objects.filter(email__in=emails).order_by("email"))
    for i in range(applications - Application.objects.filter(organization=organization).count()):
        Application.objects.create(organization=organization, name=f"ci-runner-{i}")
    apps = list(Application.objects.filter(organization=organization).order_by("name"))
    principals = [
        Actor(PrincipalType.USER, u.pk, u.email, source_ip=f"81.250.{i // 200}.{i % 200 + 1}")
        for i, u in enumerate([owner, *people])
    ] + [
        Actor(PrincipalType.APPLICATION, a.pk, a.name, source_ip=f"10.64.{i}.{i + 10}")
        for i, a in enumerate(apps)
    ]
    weights = [1 / (rank + 1) for rank in range(len(principals))]
    principals.append(Actor.system())  # "Scaleway": auto-healing, maintenance
    weights.append(0.1)
    return Tenant(organization, projects, principals, weights)


def _auditor(tenant: Tenant) -> User:
    """The big organization's auditor: AuditTrailReadOnly at organization scope."""
    organization = tenant.organization
    auditor, made = User.objects.get_or_create(email=AUDITOR, defaults={"username": AUDITOR})
    if made:
        Membership.objects.create(organization=organization, user=auditor)
        policy = Policy.objects.create(organization=organization, name="Auditors", user=auditor)
        Rule.objects.create(
            policy=policy, permission_set_names=["AuditTrailReadOnly"], scope_type=Rule.ScopeType.ORGANIZATION
        )
    return auditor


# --- the events ----------------------------------------------------------------------------------


class _Generator:
    """Events in time order: a product and method per call, a resource from stable pools (so that
    one resource id recurs across days), 3% refused, 1% other errors."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.products: list[Product] = [p for p in PRODUCTS if p.methods]
        self.pools: dict[str, list[dict[str, Any]]] = {}
        self.regions = list(REGION_WEIGHTS)
        self.region_weights = list(REGION_WEIGHTS.values())

    def _resource(self, product: Product, method: str) -> dict[str, Any]:
        kind = product.resource_type_of(method) or product.name.replace("-", "_") + "_resource"
        if kind not in self.pools:
            names = ["stripe-api-key", "db-password"] if kind == "secret_manager_secret" else []
            names += [f"{kind.rsplit('_', 1)[-1]}-{i}" for i in range(40 - len(names))]
            self.pools[kind] = [
                {"id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), "type": kind, "name": name}
                for name in names
            ]
        return self.rng.choice(self.pools[kind])

    def row(self, tenant: Tenant, at: datetime) -> EventRow:
        rng = self.rng
        actor = rng.choices(tenant.principals, tenant.weights)[0]
        product = rng.choice(self.products)
        method = rng.choice(product.methods)
        service = product.service_of(method)
        assert service is not None  # noqa: S101
        region = rng.choices(self.regions, self.region_weights)[0]
        if product.locality_kind is LocalityKind.GLOBAL:
            locality = "global"
        elif region not in product.regions:
            locality = product.regions[0]
        elif product.locality_kind is LocalityKind.ZONAL:
            locality = f"{region}-{rng.choice('12')}"
        else:
            locality = region
        roll = rng.random()
        status = 403 if roll < 0.03 else rng.choice((400, 404, 409)) if roll < 0.04 else 200
        resource = self._resource(product, method)
        return event_row(
            id=uuid7(at),
            recorded_at=at,
            organization_id=tenant.organization.pk,
            project_id=rng.choice(tenant.projects).pk if not product.is_global else None,
            locality=locality,
            principal_type=actor.principal_type,
            principal_id=actor.principal_id,
            principal_name=actor.principal_name,
            source_ip=actor.source_ip,
            user_agent=BROWSER if actor.principal_type == PrincipalType.USER else rng.choice(AGENTS),
            product_name=product.name,
            service_name=service.name,
            method_name=method,
            resources=[] if status == 403 else [resource],
            request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            request_body={
                f"{resource['type'].rsplit('_', 1)[-1]}_id": resource["id"],
                "name": resource["name"],
            },
            status_code=status,
        )


def _moments(rng: random.Random, count: int, *, end: datetime, days: int) -> Iterator[datetime]:
    """`count` instants over the `days` days before `end`, hour by hour in order, busier on
    weekday working hours."""
    start = end - timedelta(days=days)
    hours = [start + timedelta(hours=h) for h in range(days * 24)]
    weights = [HOUR_WEIGHTS[(h + timedelta(hours=1)).hour] * (1 if h.weekday() < 5 else 0.35) for h in hours]
    total = sum(weights)
    cumulative = 0.0
    produced = 0
    for index, (hour, weight) in enumerate(zip(hours, weights, strict=True)):
        cumulative += weight
        # Round the running total, not each hour, so exactly `count` instants come out (the
        # float sum of the shares may fall a hair short of `count`).
        target = count if index == len(hours) - 1 else round(count * cumulative / total)
        n, produced = target - produced, target
        yield from sorted(hour + timedelta(seconds=rng.random() * 3600) for _ in range(n))


# --- timing --------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    run: Callable[[], int]  # returns the rows (or events) it got
    explain: bool = False


@dataclass
class Timing:
    case: Case
    median: float
    p95: float
    database: float  # median milliseconds spent in queries
    rows: int
    queries: int


class _Recorder:
    """The SQL (with its parameters) that the database is asked to run, through
    `connection.execute_wrapper`, which a request's `reset_queries` does not clear."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, Any]] = []
        self.seconds = 0.0  # spent waiting for the database (and psycopg)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries.append((sql, params))
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


def _time(case: Case, runs: int) -> Timing:
    recorder = _Recorder()
    with connection.execute_wrapper(recorder):
        case.run()  # warm-up, untimed: caches, plans, lazy imports; and the queries it takes
    queries = len(recorder.queries)
    samples, in_database = [], []
    rows = 0
    for _ in range(runs):
        recorder = _Recorder()
        with connection.execute_wrapper(recorder):
            start = time.perf_counter()
            rows = case.run()
            samples.append((time.perf_counter() - start) * 1000)
        in_database.append(recorder.seconds * 1000)
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18] if runs > 1 else samples[0]
    return Timing(case, statistics.median(samples), p95, statistics.median(in_database), rows, queries)


def _parent_indexes() -> dict[str, str]:
    """Partition index name -> the parent's (model's) index name it was cloned from."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname, parent.relname FROM pg_inherits i "
            "JOIN pg_class child ON child.oid = i.inhrelid JOIN pg_class parent ON parent.oid = i.inhparent "
            "WHERE child.relkind = 'i'"
        )
        return dict(cursor.fetchall())


def _plan_summary(sql: str, params: Any, parents: dict[str, str]) -> str:
    """EXPLAIN (ANALYZE) of one query, in a line: the scans and indexes used, partitions read."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        raw = cursor.fetchone()[0]
    document = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    scans: dict[str, int] = {}
    partitions: set[str] = set()
    removed = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal removed
        kind = node["Node Type"]
        if "Index Name" in node:
            index = parents.get(node["Index Name"], node["Index Name"])
            scans[f"{kind} on {index}"] = scans.get(f"{kind} on {index}", 0) + 1
        elif kind in ("Seq Scan", "Parallel Seq Scan"):
            scans[kind] = scans.get(kind, 0) + 1
        if "Relation Name" in node:
            partitions.add(node["Relation Name"])
        removed += node.get("Subplans Removed", 0)
        for child in node.get("Plans", []):
            walk(child)

    plan = document["Plan"]
    walk(plan)
    shape = ", ".join(f"{label} ×{n}" if n > 1 else label for label, n in scans.items())
    pruned = f" (+{removed} pruned at run time)" if removed else ""
    jit = ", JIT" if "JIT" in document else ""
    buffers = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return (
        f"{plan['Node Type']} <- {shape}; {len(partitions)} partition(s){pruned}; "
        f"{plan['Actual Rows']} rows, {buffers} buffers, {document['Execution Time']:.1f} ms{jit}"
    )


# --- the command ---------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Time the Events page and ListEvents on a million events (PostgreSQL, a database of its own)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=1_000_000, help="Big organization's events")
        parser.add_argument("--noise", type=int, default=None, help="Other organizations' (default events/4)")
        parser.add_argument("--days", type=int, default=60, help="Days they spread over (default 60)")
        parser.add_argument("--runs", type=int, default=15, help="Timed runs per case (default 15)")
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Measure the events an earlier run loaded (the first run loads them)",
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_events measures PostgreSQL (partitions, its planner): "
                "set DATABASE_URL=postgres://… (a database of its own)."
            )
        if Event._meta.db_table not in connection.introspection.table_names():
            raise CommandError("Run `manage.py migrate` on this database first.")
        events, days, runs = options["events"], options["days"], options["runs"]
        noise = events // 4 if options["noise"] is None else options["noise"]
        if events < 1000 or days < 31 or runs < 1 or noise < 0:
            raise CommandError("Need --events >= 1000, --days >= 31 (the 30-day window), --runs >= 1.")
        big = _tenant(BIG, users=40, applications=8)
        auditor = _auditor(big)
        loaded = Event.objects.filter(organization_id=big.organization.pk).count()
        if loaded and not options["reuse"]:
            raise CommandError(
                f"{BIG} already has {loaded:,} events here (append-only: they stay). "
                "Pass --reuse to measure them, or migrate an empty database."
            )
        if not loaded:
            tenants = [big] + [_tenant(name, users=10, applications=2) for name in NOISE]
            self._load(tenants, events=events, noise=noise, days=days, seed=options["seed"])
        else:
            self.stdout.write(f"Reusing {loaded:,} events of {BIG}.")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_event")
        self.stdout.write(f"VACUUM ANALYZE audit_event: {time.perf_counter() - started:.1f} s")
        self._report(big, auditor, runs=runs)

    def _load(self, tenants: list[Tenant], *, events: int, noise: int, days: int, seed: int) -> None:
        rng = random.Random(seed)
        generator = _Generator(rng)
        ensure_partitions(months_back=days // 28 + 1)
        end = datetime.now(UTC)
        share = events / (events + noise)
        started = time.perf_counter()
        batch: list[EventRow] = []
        stored = 0
        for at in _moments(rng, events + noise, end=end, days=days):
            tenant = tenants[0] if rng.random() < share else rng.choice(tenants[1:])
            batch.append(generator.row(tenant, at))
            if len(batch) == CHUNK:
                stored += len(record_rows(batch))
                batch = []
        stored += len(record_rows(batch))
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Loaded {stored:,} events ({share:.0%} for {BIG}, the rest over {len(tenants) - 1} other "
            f"organizations) over {days} days through record_rows: {seconds:.0f} s, "
            f"{stored / seconds:,.0f} events/s"
        )

    def _report(self, big: Tenant, auditor: User, *, runs: int) -> None:
        organization = big.organization
        org_id = organization.pk
        scoped = Event.objects.filter(organization_id=org_id, region=REGION)
        end = scoped.aggregate(end=Max("recorded_at"))["end"] + timedelta(seconds=1)
        windows = {w: (end - delta, end) for w, delta in (("1h", timedelta(hours=1)),
                                                              ("24h", timedelta(days=1)),
                                                              ("30d", timedelta(days=30)))}  # fmt: skip
        month = scoped.filter(recorded_at__gte=windows["30d"][0])
        # Filter values as a user would pick them: a mid-frequency user, the tenth most common
        # method, a resource that recurs, the CI runners' network, a secret's name.
        principal = big.principals[5]
        method = list(
            month.values("method_name")
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("method_name", flat=True)[:10]
        )[-1]
        sample = month.exclude(resources=[]).filter(recorded_at__lt=end - timedelta(days=3)).first()
        assert sample is not None  # noqa: S101
        resource_id = sample.resources[0]["id"]
        drawer = month.filter(recorded_at__lt=end - timedelta(days=10)).first()
        assert drawer is not None  # noqa: S101

        def query(window: str, **filters: Any) -> EventQuery:
            after, before = windows[window]
            return EventQuery(region=REGION, recorded_after=after, recorded_before=before, **filters)

        def page(q: EventQuery, cursor: Cursor | None = None) -> int:
            return len(event_page(event_queryset(organization_id=org_id, query=q), cursor=cursor).events)

        def timeline(q: EventQuery) -> int:
            after, before = q.window()
            return event_timeline(
                event_queryset(organization_id=org_id, query=q), start=after, end=before
            ).total

        deep, depth = None, 0
        while depth < 100:  # 100 pages deep (fewer on a small load), the way "Older" gets there
            older = event_page(
                event_queryset(organization_id=org_id, query=query("30d")), cursor=deep
            ).next_cursor
            if older is None:
                break
            deep, depth = older, depth + 1

        filters: dict[str, dict[str, Any]] = {
            "status 403": {"status": 403},
            f"method {method}": {"method_name": method},
            f"principal {principal.principal_name.split('@')[0]}": {"principal_id": principal.principal_id},
            "resource id": {"resource_id": resource_id},
            f"CIDR {CI_NETWORK}": {"source_ip": CI_NETWORK},
            f"text “{TEXT}”": {"text": TEXT},
        }
        cases = [
            Case("first page, last hour", lambda: page(query("1h")), explain=True),
            Case("first page, last 24 h", lambda: page(query("24h"))),
            Case("first page, last 30 days", lambda: page(query("30d")), explain=True),
            Case(f"page {depth + 1} of 30 days (cursor)", lambda: page(query("30d"), deep), explain=True),
            Case("timeline, last hour", lambda: timeline(query("1h")), explain=True),
            Case("timeline, last 24 h", lambda: timeline(query("24h"))),
            Case("timeline, last 30 days", lambda: timeline(query("30d")), explain=True),
        ]
        for label, values in filters.items():
            cases += [
                Case(f"{label}: page, 30 days", lambda v=values: page(query("30d", **v)), explain=True),
                Case(
                    f"{label}: timeline, 30 days", lambda v=values: timeline(query("30d", **v)), explain=True
                ),
            ]
        cases += [
            Case(
                "drawer: event_get",
                lambda: int(event_get(organization_id=org_id, event_id=drawer.pk) is not None),
                explain=True,
            ),
            Case(
                "principal labels of a page",
                lambda: len(
                    events_with_principals(organization=organization, events=event_page(month).events)
                ),  # fmt: skip
            ),
        ]
        console = Client(HTTP_HOST="localhost")
        console.force_login(auditor)
        events_url = reverse("audit:events")

        def view(window: str, htmx: bool = False, **params: str) -> Callable[[], int]:
            after, before = windows[window]
            url = f"{events_url}?" + urlencode(
                {
                    "region": REGION,
                    "range": "custom",
                    "after": after.isoformat(),
                    "before": before.isoformat(),
                }
                | params
            )
            headers = {"HX-Request": "true", "HX-Target": "results"} if htmx else {}

            def get() -> int:
                response = console.get(url, headers=headers)
                if response.status_code != 200:
                    raise CommandError(f"{url} answered {response.status_code}")
                return response.content.count(b"data-event-id=")

            return get

        _, secret = api_key_create(
            actor=Actor.system(), organization=organization, user=auditor, description="bench"
        )
        api = Client(HTTP_HOST="localhost", HTTP_X_AUTH_TOKEN=secret)
        api_url = f"/audit-trail/v1alpha1/regions/{REGION}/events"

        def list_events(window: str, **params: str) -> Callable[[], int]:
            after, before = windows[window]
            data = {"recorded_after": after.isoformat(), "recorded_before": before.isoformat(), **params}

            def get() -> int:
                with override_settings(API_RATE_LIMIT=0):
                    response = api.get(api_url, data)
                if response.status_code != 200:
                    raise CommandError(
                        f"ListEvents answered {response.status_code}: {response.content[:200]!r}"
                    )
                return len(response.json()["events"])

            return get

        cases += [
            Case("Events page, last hour (auditor)", view("1h")),
            Case("Events page, 30 days, 403s (htmx)", view("30d", htmx=True, status="403")),
            Case(f"Events page, 24 h, {method}", view("24h", method=method)),
            Case("ListEvents, last hour", list_events("1h")),
            Case(f"ListEvents, 30 days, {method}", list_events("30d", method_name=method)),
        ]
        total = Event.objects.filter(organization_id=org_id).count()
        self.stdout.write(
            f"\n{BIG}: {total:,} events ({scoped.filter(recorded_at__gte=windows['30d'][0]).count():,} in "
            f"{REGION} over the last 30 days); {runs} runs per case, milliseconds\n"
        )
        self.stdout.write(f"{'case':<48} {'median':>8} {'p95':>8} {'in SQL':>8} {'queries':>7} {'rows':>8}")
        timings = [_time(case, runs) for case in cases]
        for t in timings:
            flag = "  << slow" if t.median > 50 else ""
            self.stdout.write(
                f"{t.case.name:<48} {t.median:>8.1f} {t.p95:>8.1f} {t.database:>8.1f} {t.queries:>7} {t.rows:>8,}{flag}"
            )
        self.stdout.write("\nEXPLAIN ANALYZE of the queries behind the main cases:")
        parents = _parent_indexes()
        for case in cases:
            if not case.explain:
                continue
            recorder = _Recorder()
            with connection.execute_wrapper(recorder):
                case.run()
            for sql, params in recorder.queries:
                if Event._meta.db_table in sql:
                    self.stdout.write(f"- {case.name}: {_plan_summary(sql, params, parents)}")
