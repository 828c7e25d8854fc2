"""The Events page and ListEvents, timed on a million events (PostgreSQL): `manage.py bench_events`.

Run it on a database of its own (events are append-only: what it loads stays):
`DATABASE_URL=postgres://…/at_bench manage.py migrate && manage.py bench_events`.

It loads `--events` events (default 1,000,000) for one big organization, "Events benchmark", plus
`--noise` more spread over four other organizations, over the last `--days` days (default 60),
interleaved in time order as a live trail receives them. The events come from the demo's one
generator (`demo.events`: its products, methods, resource pools and busy hours) and are stored
through `audit.services.record_many`, in batches (ingestion's COPY). `--reuse` measures what an
earlier run loaded. Then `VACUUM ANALYZE audit_event`, and each case runs `--runs` times after
one untimed warm-up; it prints the median and 95th percentile, and the EXPLAIN ANALYZE summary
(the indexes used, how many partitions were read) of the queries behind the main cases.

The windows end at the newest event loaded, not at "now", so a reused load measures the same
thing days later. The cases:
- the selectors the Events page calls (`audit.selectors`): the first page of the last hour, 24 h
  and 30 days, a page 100 pages deep through the keyset cursor, every filter (first page and
  timeline), the timeline aggregate, and the drawer's `event_get`;
- the whole Events page through Django's test client, signed in as the organization's auditor;
  and side by side, in interleaved runs: the page with its facets' panel folded, the page with it
  open (the "facets" cookie), and the panel's own request for its grid (`audit:event_facets`), at
  p50 and p95. The page never counts the facets (the panel asks for them with htmx), so what they
  add to the page's response is 0 by construction: the report prints the measured open-minus-
  folded difference (~0) and the facets request's time as a share of the page's. The issue's
  budget is that the facets add less than 20% to the page's time;
- ListEvents through the API view, with the auditor's API key.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import TextIOBase
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count, Max
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from audit.models import Event
from audit.partitions import ensure_partitions
from audit.selectors import (
    EventQuery,
    event_facets,
    event_get,
    event_queryset,
    event_timeline,
    events_with_principals,
)
from audit.services import Actor, record_many
from core.paging import Cursor, event_page
from demo.bench import BenchError
from demo.events import (
    CLI_UA,
    DEMO_PRODUCTS,
    FIREFOX_UA,
    SDK_PYTHON_UA,
    SYSTEM_METHODS,
    TERRAFORM_UA,
    Cast,
    DemoPrincipal,
    EventGenerator,
    moments,
)
from iam.models import Application, Membership, Organization, Policy, Project, Rule, User
from iam.services import api_key_create

BIG = "Events benchmark"
NOISE = tuple(f"Events benchmark noise {i}" for i in range(1, 5))
DOMAIN = "bench-events.invalid"
AUDITOR = f"auditor@{DOMAIN}"
REGION = "fr-par"
PAGE_SIZE = 50
CHUNK = 10_000  # events per record_many call (one transaction, one COPY)
AGENTS = (FIREFOX_UA, CLI_UA, TERRAFORM_UA, SDK_PYTHON_UA)
CI_NETWORK = "10.64.0.0/16"  # the applications (CI runners) call from inside a VPC
TEXT = "stripe"  # free text: a secret's name, in the resources' JSON
FACET_RUNS = 2  # times `--runs`, for the page with and without facets: a p95 of 15 runs is nearly the slowest


# --- the organizations ---------------------------------------------------------------------------


def _tenant(name: str, *, users: int, applications: int) -> Cast:
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
    # Each principal has its usual IP and uses every product; weights fall off as 1/rank.
    habits = [
        (Actor.of(u), f"81.250.{i // 200}.{i % 200 + 1}", (FIREFOX_UA,))
        for i, u in enumerate([owner, *people])
    ] + [(Actor.of(a), f"10.64.{i}.{i + 10}", AGENTS) for i, a in enumerate(apps)]
    everything = dict.fromkeys((p.name for p in DEMO_PRODUCTS), 1.0)
    principals = [
        DemoPrincipal(actor, 1 / (rank + 1), everything, (ip,), agents)
        for rank, (actor, ip, agents) in enumerate(habits)
    ]
    # "Scaleway": auto-healing, maintenance.
    principals.append(DemoPrincipal(Actor.system(), 0.1, dict.fromkeys(SYSTEM_METHODS, 1.0), (), ("",)))
    iam = {
        "iam_application": [(str(a.pk), a.name) for a in apps],
        "iam_user": [(str(u.pk), u.email) for u in people],
    }
    return Cast(organization, projects, principals, iam)


def _auditor(tenant: Cast) -> User:
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


def _status(rng: random.Random) -> int:
    """3% refused, 1% other errors."""
    roll = rng.random()
    return 403 if roll < 0.03 else rng.choice((400, 404, 409)) if roll < 0.04 else 200


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


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]


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


# --- the benchmark -------------------------------------------------------------------------------


def bench_events(
    *, events: int, noise: int | None, days: int, runs: int, reuse: bool, seed: int, out: TextIOBase
) -> None:
    """Load the trail (unless `reuse`), then time and explain each case; the report goes to `out`.

    Raises BenchError when it cannot run here (not PostgreSQL, not migrated, events already
    loaded without `reuse`, nonsense arguments) or when a page answers an error.
    """
    _Bench(out).run(events=events, noise=noise, days=days, runs=runs, reuse=reuse, seed=seed)


class _Bench:
    def __init__(self, out: TextIOBase) -> None:
        self.stdout = out

    def run(self, *, events: int, noise: int | None, days: int, runs: int, reuse: bool, seed: int) -> None:
        if connection.vendor != "postgresql":
            raise BenchError(
                "bench_events measures PostgreSQL (partitions, its planner): "
                "set DATABASE_URL=postgres://… (a database of its own)."
            )
        if Event._meta.db_table not in connection.introspection.table_names():
            raise BenchError("Run `manage.py migrate` on this database first.")
        noise = events // 4 if noise is None else noise
        if events < 1000 or days < 31 or runs < 1 or noise < 0:
            raise BenchError("Need --events >= 1000, --days >= 31 (the 30-day window), --runs >= 1.")
        big = _tenant(BIG, users=40, applications=8)
        auditor = _auditor(big)
        loaded = Event.objects.filter(organization_id=big.organization.pk).count()
        if loaded and not reuse:
            raise BenchError(
                f"{BIG} already has {loaded:,} events here (append-only: they stay). "
                "Pass --reuse to measure them, or migrate an empty database."
            )
        if not loaded:
            tenants = [big] + [_tenant(name, users=10, applications=2) for name in NOISE]
            self._load(tenants, events=events, noise=noise, days=days, seed=seed)
        else:
            self.stdout.write(f"Reusing {loaded:,} events of {BIG}.\n")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_event")
        self.stdout.write(f"VACUUM ANALYZE audit_event: {time.perf_counter() - started:.1f} s\n")
        self._report(big, auditor, runs=runs)

    def _report_facets(
        self, faceted: list[tuple[str, Callable[[bool], int], Callable[[], int]]], *, runs: int
    ) -> None:
        """The Events page and its facets, p50 and p95: per run, the page with the panel folded,
        the page with it open (the "facets" cookie) and the panel's own request for its grid,
        interleaved so that the load of a shared machine weighs on all three alike, `FACET_RUNS`
        times as many runs as a case has, so that a p95 is more than the slowest run.
        The page never waits for the facets: what they add to its response is the open page's
        time over the folded one's (the median of the pairs' differences, ~0: the open panel only
        changes its trigger). The facets' request, which the browser sends after the page (open)
        or on unfolding, is printed as a share of the page's time. The issue's budget: facets add
        less than 20% to the page's time."""
        runs *= FACET_RUNS
        self.stdout.write(
            f"\nEvents page and its facets' own request (page folded, page open, facets; interleaved), "
            f"{runs} runs each, ms\n{'window':<30} {'page p50':>9} {'p95':>8} {'facets p50':>11} {'p95':>8} "
            f"{'facets add to page':>19} {'open-folded p50':>16} {'facets/page':>12}\n"
        )
        for label, page, facets in faceted:
            page(False)  # warm-up, untimed
            page(True)
            facets()
            folded: list[float] = []
            opened: list[float] = []
            counted: list[float] = []
            for _ in range(runs):
                for samples, run in (
                    (folded, functools.partial(page, False)),
                    (opened, functools.partial(page, True)),
                    (counted, facets),
                ):
                    start = time.perf_counter()
                    run()
                    samples.append((time.perf_counter() - start) * 1000)
            p50, p95 = statistics.median(folded), _p95(folded)
            f50, f95 = statistics.median(counted), _p95(counted)
            # The median of each pair's difference (of the folded page's p50): both runs of a pair
            # meet the load of their moment, so a drift of the machine's load cancels out in it.
            paired = statistics.median(b - a for a, b in zip(folded, opened, strict=True)) / p50
            flag = "  << over 20%" if paired > 0.2 else ""
            self.stdout.write(
                f"{label:<30} {p50:>9.1f} {p95:>8.1f} {f50:>11.1f} {f95:>8.1f} "
                f"{0:>19.0%} {paired:>16.0%} {f50 / p50:>12.0%}{flag}\n"
            )

    def _load(self, casts: list[Cast], *, events: int, noise: int, days: int, seed: int) -> None:
        rng = random.Random(seed)
        pools: dict[tuple[str, str], list[dict[str, Any]]] = {}
        big, *others = [EventGenerator(cast, rng, pools) for cast in casts]
        ensure_partitions(months_back=days // 28 + 1)
        end = datetime.now(UTC)
        share = events / (events + noise)
        started = time.perf_counter()
        trail = (
            (big if rng.random() < share else rng.choice(others)).event(at, status=_status(rng))
            for at in moments(rng, events + noise, end=end, days=days)
        )
        stored = 0
        for batch in itertools.batched(trail, CHUNK):
            stored += len(record_many(batch))
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Loaded {stored:,} events ({share:.0%} for {BIG}, the rest over {len(casts) - 1} other "
            f"organizations) over {days} days through record_many: {seconds:.0f} s, "
            f"{stored / seconds:,.0f} events/s\n"
        )

    def _report(self, big: Cast, auditor: User, *, runs: int) -> None:
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
        principal = big.principals[5].actor
        method = list(
            month.values("method_name")
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("method_name", flat=True)[:10]
        )[-1]
        sample = month.exclude(resources=[]).filter(recorded_at__lt=end - timedelta(days=3)).first()
        assert sample is not None
        resource_id = sample.resources[0]["id"]
        drawer = month.filter(recorded_at__lt=end - timedelta(days=10)).first()
        assert drawer is not None

        def query(window: str, **filters: Any) -> EventQuery:
            after, before = windows[window]
            return EventQuery(region=REGION, recorded_after=after, recorded_before=before, **filters)

        def page(q: EventQuery, cursor: Cursor | None = None) -> int:
            return len(event_page(event_queryset(organization_id=org_id, query=q), cursor=cursor).events)

        def facet_count(q: EventQuery) -> int:
            facets = event_facets(event_queryset(organization_id=org_id, query=q), organization=organization)
            return facets.sampled

        def timeline(q: EventQuery) -> int:
            after, before = q.window()
            return event_timeline(
                event_queryset(organization_id=org_id, query=q),
                organization_id=org_id,
                query=q,
                start=after,
                end=before,
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
            # Functions, not lambdas: mypy infers no lambda with a default (the loop's values, bound).
            def filtered_page(v: dict[str, Any] = values) -> int:
                return page(query("30d", **v))

            def filtered_timeline(v: dict[str, Any] = values) -> int:
                return timeline(query("30d", **v))

            cases += [
                Case(f"{label}: page, 30 days", filtered_page, explain=True),
                Case(f"{label}: timeline, 30 days", filtered_timeline, explain=True),
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
                    raise BenchError(f"{url} answered {response.status_code}")
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
                    raise BenchError(
                        f"ListEvents answered {response.status_code}: {response.content[:200]!r}"
                    )
                return len(response.json()["events"])

            return get

        facets_url = reverse("audit:event_facets")

        def faceted_view(window: str, **params: str) -> tuple[Callable[[bool], int], Callable[[], int]]:
            """The whole Events page, as `view`, with the facets' panel open or folded (its
            cookie); and the panel's own htmx request for the grid of the same filters."""
            after, before = windows[window]
            query = "?" + urlencode(
                {
                    "region": REGION,
                    "range": "custom",
                    "after": after.isoformat(),
                    "before": before.isoformat(),
                }
                | params
            )

            def get(open_panel: bool) -> int:
                console.cookies["facets"] = "open" if open_panel else "closed"
                response = console.get(events_url + query)
                if (
                    response.status_code != 200
                    or b'id="facet-grid"' not in response.content
                    or b"data-facet=" in response.content
                ):
                    raise BenchError(
                        f"{events_url + query} answered {response.status_code}, or not the facets' panel alone"
                    )
                return response.content.count(b"data-event-id=")

            def facets() -> int:
                response = console.get(
                    facets_url + query, headers={"HX-Request": "true", "HX-Target": "facet-grid"}
                )
                if response.status_code != 200 or b'data-facet="principals"' not in response.content:
                    raise BenchError(f"{facets_url + query} answered {response.status_code}, no facets")
                return response.content.count(b'class="facet-count"')

            return get, facets

        # The Events page, folded and open, and its facets' own request, side by side.
        faceted = [
            ("last hour", *faceted_view("1h")),
            ("last 24 h", *faceted_view("24h")),
            ("30 days", *faceted_view("30d")),
            ("30 days, 403s", *faceted_view("30d", status="403")),
            (f"30 days, search “{TEXT}”", *faceted_view("30d", q=TEXT)),
        ]
        cases += [
            Case("facets: event_facets, last hour", lambda: facet_count(query("1h")), explain=True),
            Case("facets: event_facets, 30 days", lambda: facet_count(query("30d")), explain=True),
            Case("search “Unknown”: page, 30 days", lambda: page(query("30d", text="Unknown")), explain=True),
            Case(
                "search “Unknown”: timeline, 30 days",
                lambda: timeline(query("30d", text="Unknown")),
                explain=True,
            ),
            Case("search IP 10.64.: page, 30 days", lambda: page(query("30d", text="10.64."))),
        ]
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
        self.stdout.write(f"{'case':<48} {'median':>8} {'p95':>8} {'in SQL':>8} {'queries':>7} {'rows':>8}\n")
        timings = [_time(case, runs) for case in cases]
        for t in timings:
            flag = "  << slow" if t.median > 50 else ""
            self.stdout.write(
                f"{t.case.name:<48} {t.median:>8.1f} {t.p95:>8.1f} {t.database:>8.1f} {t.queries:>7} {t.rows:>8,}{flag}\n"
            )
        self._report_facets(faceted, runs=runs)
        self.stdout.write("\nEXPLAIN ANALYZE of the queries behind the main cases:\n")
        parents = _parent_indexes()
        for case in cases:
            if not case.explain:
                continue
            recorder = _Recorder()
            with connection.execute_wrapper(recorder):
                case.run()
            for sql, params in recorder.queries:
                if Event._meta.db_table in sql:
                    self.stdout.write(f"- {case.name}: {_plan_summary(sql, params, parents)}\n")
