"""The reference trail of `make bench`: a skewed trail of N events, loaded once and reused.

The shape is issue 14's: 50 organizations of Zipf-like sizes (weight 1/rank, so the largest holds
22% of the events: 2.2 M of 10 M), 90 days, 237 methods (the catalogue's 236 and one an external
producer sends), about 3,000 principals (members and applications, weights 1/rank within their
organization), many IPs (each principal's own, and one event in eight from anywhere), and 3.5%
refused (403), 1% other errors. Busy on weekday working hours, quiet at night, as `demo.events`.

The events are stored batch by batch in time order, every organization interleaved as a live
trail receives them, one batch in BATCH_EVERY through our batch path (`audit.services.record_many`,
what ingestion ends in) and the others by a raw COPY of ready rows into the same table with every
index: the load itself measures what the door costs against the floor, on the same mix of rows.

It is loaded once per schema: the marker table `bench_trail` keeps the key (the applied
migrations, N, the generator's version) with what the load measured. A later run with the same
key reuses the trail; with another key it drops and recreates the database (only one that holds
the marker, i.e. that the bench made), migrates it and loads again. Events are append-only, so a
trail of another size or shape needs a database of its own.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import os
import queue
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import TextIOBase
from typing import Any

import orjson
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from audit import catalogue
from audit.models import Event, PrincipalType
from audit.partitions import ensure_partitions
from audit.services import EventRow, rebuild_rollup, record_many
from demo.bench import BenchError
from demo.events import HOUR_WEIGHTS, TIME_ZONE, WEEKEND
from iam.logs import IAM_LOG_METHODS
from iam.models import Application, Membership, Organization, Project, User

VERSION = 1  # of the generator: a change of shape is a new trail
MARKER = "bench_trail"
ORGANIZATIONS = 50
DAYS = 90
PRINCIPALS = 3_000
REFUSED = 0.035
OTHER_ERRORS = 0.01
ROAMING = 0.125  # events from an IP of nowhere in particular
BATCH = 5_000  # events per record_many call or COPY (one transaction each)
# One batch in this many goes through record_many, the others by a raw COPY: enough batches of
# each to compare them, and a 10 M load that fits in a quarter of an hour.
BATCH_EVERY = 4
DOMAIN = "bench.invalid"
OWNER = f"owner@org01.{DOMAIN}"
ADMIN = f"admin@{DOMAIN}"
EXTERNAL = ("inventory-sync", "scaleway.inventory_sync.v1.Api", "SyncInventory")  # not in the catalogue
REGION_WEIGHTS = {"fr-par": 0.6, "nl-ams": 0.25, "pl-waw": 0.15}
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "scaleway-cli/2.35.0 (go1.23; linux; amd64)",
    "Terraform/1.9.8 terraform-provider-scaleway/2.47.0",
    "scaleway-sdk-python/2.6.0 python/3.12",
)
# Resource names: free text finds "stripe" in about one resource of forty.
WORDS = ("web", "db", "cache", "queue", "billing", "stripe", "search", "backup", "ci", "edge")
JSON_COLUMNS = tuple(i for i, name in enumerate(EventRow._fields) if name in ("resources", "request_body"))


def batch_size(events: int) -> int:
    """BATCH, or less on a small trail so that each path gets a few batches."""
    return max(100, min(BATCH, events // 10))


def name(rank: int) -> str:
    """The organization of `rank` (0: the largest)."""
    return f"Bench org {rank + 1:02}"


def zipf(count: int) -> list[float]:
    weights = [1 / (rank + 1) for rank in range(count)]
    total = sum(weights)
    return [w / total for w in weights]


@dataclass
class Principal:
    id: uuid.UUID
    type: str
    name: str
    ips: tuple[str, ...]
    agent: str


@dataclass
class Tenant:
    organization: Organization
    projects: list[uuid.UUID]
    principals: list[Principal]
    cumulative: list[float]  # of the principals' weights, for bisect


@dataclass(frozen=True)
class Method:
    product: str
    service: str
    name: str
    resource_type: str
    global_: bool


@dataclass
class Trail:
    """What the timing needs to know of the trail, stored in the marker."""

    events: int
    end: datetime  # just after the newest event loaded
    loaded_at: datetime
    load_seconds: float
    batch_rate: float  # events/s through record_many during the load
    copy_rate: float  # events/s through the raw COPY during the load
    ratio_median: float  # the median of the per-round COPY/batch time ratios

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "end": self.end.isoformat(),
            "loaded_at": self.loaded_at.isoformat(),
            "load_seconds": self.load_seconds,
            "batch_rate": self.batch_rate,
            "copy_rate": self.copy_rate,
            "ratio_median": self.ratio_median,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trail:
        return cls(
            events=data["events"],
            end=datetime.fromisoformat(data["end"]),
            loaded_at=datetime.fromisoformat(data["loaded_at"]),
            load_seconds=data["load_seconds"],
            batch_rate=data["batch_rate"],
            copy_rate=data["copy_rate"],
            ratio_median=data["ratio_median"],
        )


# --- the database the trail lives in ------------------------------------------------------------


def prepare_database(out: TextIOBase) -> None:
    """PostgreSQL only; create the database when it does not exist yet, and migrate it. A bench
    database with migrations to apply is dropped and created afresh first: its trail would be
    loaded again anyway, and migrating it would build the new indexes over it for nothing."""
    if connection.vendor != "postgresql":
        raise BenchError(
            "make bench measures PostgreSQL: set DATABASE_URL=postgres://… (a database of its own)."
        )
    try:
        connection.ensure_connection()
    except Exception as error:  # psycopg's "database does not exist", wrapped by Django
        if "does not exist" not in str(error):
            raise
        _create_database(out)
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending and MARKER in connection.introspection.table_names():
        _recreate_database(out)
    else:
        call_command("migrate", verbosity=0)


def _create_database(out: TextIOBase) -> None:
    db = connection.settings_dict["NAME"]
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(db)}")
    out.write(f"Created database {db}.\n")


def _recreate_database(out: TextIOBase) -> None:
    db = connection.settings_dict["NAME"]
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE {connection.ops.quote_name(db)} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(db)}")
    out.write(f"Dropped and created database {db} (the trail's schema or size changed).\n")
    call_command("migrate", verbosity=0)


def trail_key(events: int) -> str:
    """The applied migrations, N and the generator's version: the trail is valid while they hold."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        migrations = cursor.fetchall()
    digest = hashlib.sha256(orjson.dumps(migrations)).hexdigest()[:16]
    return f"v{VERSION}-n{events}-{digest}"


def _marker() -> tuple[str, Trail] | None:
    if MARKER not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, trail FROM {MARKER}")
        row = cursor.fetchone()
    if row is None:
        return None
    data = row[1] if isinstance(row[1], dict) else orjson.loads(row[1])
    return row[0], Trail.from_json(data)


def _write_marker(key: str, trail: Trail) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARKER} (key text PRIMARY KEY, trail jsonb NOT NULL)")
        cursor.execute(f"DELETE FROM {MARKER}")
        cursor.execute(
            f"INSERT INTO {MARKER} (key, trail) VALUES (%s, %s)",
            [key, orjson.dumps(trail.as_json()).decode()],
        )


def drop_marker() -> None:
    """Forget the trail (tests: the events they loaded are flushed with their database)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {MARKER}")


def ensure_trail(*, events: int, seed: int, out: TextIOBase) -> Trail:
    """The trail of `events` events for the current schema: reused, or loaded (see the module)."""
    key = trail_key(events)
    marker = _marker()
    if marker is not None and marker[0] == key and Organization.objects.filter(name=name(0)).exists():
        trail = marker[1]
        out.write(
            f"Reusing the trail of {trail.events:,} events loaded {trail.loaded_at:%Y-%m-%d %H:%M} UTC "
            f"(key {key}).\n"
        )
        return trail
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_event)")
        holds_events = cursor.fetchone()[0]
    if holds_events:
        if marker is None:
            raise BenchError(
                f"{connection.settings_dict['NAME']} holds events that the bench did not load (events "
                "are append-only). Point DATABASE_URL at a database of its own, e.g. "
                "postgres://postgres@127.0.0.1/audit_trail_bench: the bench creates it."
            )
        _recreate_database(out)
    trail = _load(events=events, seed=seed, out=out)
    _write_marker(trail_key(events), trail)
    return trail


# --- the cast ------------------------------------------------------------------------------------


def _methods() -> list[Method]:
    """The catalogue's methods and one only an external producer sends: 237."""
    methods = []
    for product in catalogue.PRODUCTS:
        for service in product.services:
            for method in service.methods:
                resource_type = next(
                    (t for fragment, t in product.resource_types if fragment in method),
                    product.name.replace("-", "_"),
                )
                methods.append(Method(product.name, service.name, method, resource_type, product.is_global))
    unique = list({m.name: m for m in methods}.values())
    unique.append(Method(*EXTERNAL, "inventory_item", False))
    return unique


def _cast(rng: random.Random, weights: list[float]) -> list[Tenant]:
    """The 50 organizations, each with an owner, projects, members and applications (bulk, no
    passwords). Principals: PRINCIPALS shared out by the organizations' weights, at least 4 each."""
    tenants = [
        _tenant(rng, name(rank), f"org{rank + 1:02}", network=rank + 1, weight=weight)
        for rank, weight in enumerate(weights)
    ]
    User.objects.get_or_create(
        email=ADMIN, defaults={"username": ADMIN, "is_staff": True, "is_superuser": True, "password": "!"}
    )
    return tenants


def _tenant(rng: random.Random, title: str, slug: str, *, network: int, weight: float) -> Tenant:
    owner, _ = User.objects.get_or_create(email=f"owner@{slug}.{DOMAIN}", defaults={"username": slug})
    organization, _ = Organization.objects.get_or_create(name=title, defaults={"owner": owner})
    Membership.objects.get_or_create(organization=organization, user=owner)
    projects = [
        Project.objects.get_or_create(organization=organization, name=f"project-{i + 1}")[0].pk
        for i in range(max(2, min(12, round(40 * weight))))
    ]
    count = max(4, round(PRINCIPALS * weight))
    users = [
        User(email=f"dev{i:04}@{slug}.{DOMAIN}", username=f"dev{i:04}@{slug}", password="!")
        for i in range(count * 4 // 5)
    ]
    User.objects.bulk_create(users, ignore_conflicts=True)
    users = list(User.objects.filter(email__endswith=f"@{slug}.{DOMAIN}").exclude(pk=owner.pk))
    existing = set(Membership.objects.filter(organization=organization).values_list("user_id", flat=True))
    Membership.objects.bulk_create(
        [Membership(organization=organization, user=u) for u in users if u.pk not in existing]
    )
    have = Application.objects.filter(organization=organization).count()
    Application.objects.bulk_create(
        [
            Application(organization=organization, name=f"ci-runner-{i}")
            for i in range(have, count - len(users))
        ]
    )
    apps = list(Application.objects.filter(organization=organization))
    people: list[Principal] = []
    for i, user in enumerate([owner, *sorted(users, key=lambda u: u.email)]):
        ip = f"81.{network}.{i // 200}.{i % 200 + 1}"
        people.append(Principal(user.pk, PrincipalType.USER, user.email, (ip,), AGENTS[0]))
    for i, app in enumerate(sorted(apps, key=lambda a: a.name)):
        ips = tuple(f"10.{network}.{i}.{host}" for host in (10, 11, 12))
        people.append(Principal(app.pk, PrincipalType.APPLICATION, app.name, ips, AGENTS[1 + i % 3]))
    rng.shuffle(people)
    people.insert(0, people.pop(next(i for i, p in enumerate(people) if p.id == owner.pk)))
    cumulative = list(itertools.accumulate(zipf(len(people))))
    return Tenant(organization, projects, people, cumulative)


# --- the events ----------------------------------------------------------------------------------


def _hours(end: datetime, days: int) -> list[tuple[float, float]]:
    """Each hour of the trail (its start, as a Unix time) and its weight: busy working hours."""
    start = end - timedelta(days=days)
    hours = []
    at = start.replace(minute=0, second=0, microsecond=0)
    while at < end:
        local = at.astimezone(TIME_ZONE)
        weight = HOUR_WEIGHTS[local.hour] * (WEEKEND if local.weekday() >= 5 else 1.0)
        hours.append((at.timestamp(), weight))
        at += timedelta(hours=1)
    return hours


class _Rows:
    """Event rows, drawn fast: a few random draws and one tuple per event."""

    def __init__(self, rng: random.Random, tenants: list[Tenant], weights: list[float]) -> None:
        self.rng = rng
        self.tenants = tenants
        self.org_cumulative = list(itertools.accumulate(weights))
        self.methods = _methods()
        rng.shuffle(self.methods)
        # The IAM log methods are common enough that the IAM Logs tab has pages to show.
        iam = [m for m in self.methods if m.product == "iam" and m.name in IAM_LOG_METHODS]
        others = [m for m in self.methods if m not in iam]
        self.methods = others[:5] + iam + others[5:]
        self.method_cumulative = list(itertools.accumulate(zipf(len(self.methods))))
        self.regions = list(REGION_WEIGHTS)
        self.region_cumulative = list(itertools.accumulate(REGION_WEIGHTS.values()))
        self.pools: dict[tuple[int, str], list[dict[str, Any]]] = {}
        self.bodies: list[dict[str, Any]] = [
            {},
            {"name": "x"},
            {"tags": ["prod"], "description": "managed by terraform"},
        ]

    def _resource(self, org: int, type_: str) -> dict[str, Any]:
        pool = self.pools.get((org, type_))
        if pool is None:
            rng = self.rng
            pool = [
                {
                    "type": type_,
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "name": f"{rng.choice(WORDS)}-{type_.rsplit('_', 1)[-1]}-{i}",
                }
                for i in range(30)
            ]
            self.pools[(org, type_)] = pool
        return pool[int(self.rng.random() ** 2 * len(pool))]

    def between(self, start: float, stop: float, count: int) -> list[EventRow]:
        rng = self.rng
        random_ = rng.random
        getrandbits = rng.getrandbits
        instants = sorted(start + random_() * (stop - start) for _ in range(count))
        rows = []
        for at in instants:
            org = bisect.bisect(self.org_cumulative, random_() * self.org_cumulative[-1])
            org = min(org, len(self.tenants) - 1)
            tenant = self.tenants[org]
            who = tenant.principals[
                min(
                    bisect.bisect(tenant.cumulative, random_() * tenant.cumulative[-1]),
                    len(tenant.principals) - 1,
                )
            ]
            method = self.methods[
                min(
                    bisect.bisect(self.method_cumulative, random_() * self.method_cumulative[-1]),
                    len(self.methods) - 1,
                )
            ]
            if method.global_:
                locality, region = "global", "fr-par"
            else:
                region = self.regions[min(bisect.bisect(self.region_cumulative, random_()), 2)]
                locality = region
            roll = random_()
            status = 403 if roll < REFUSED else (404 if roll < REFUSED + OTHER_ERRORS else 200)
            if random_() < ROAMING:
                ip = f"{getrandbits(7) + 100}.{getrandbits(8)}.{getrandbits(8)}.{getrandbits(8)}"
            else:
                ip = who.ips[int(random_() * len(who.ips))]
            ms = int(at * 1000)
            value = ms << 80 | getrandbits(80)
            value = (value & ~(0xF << 76)) | (0x7 << 76)
            value = (value & ~(0x3 << 62)) | (0x2 << 62)
            resources = [] if random_() < 0.1 else [self._resource(org, method.resource_type)]
            rows.append(
                EventRow(
                    uuid.UUID(int=value),
                    datetime.fromtimestamp(ms / 1000, UTC),
                    tenant.organization.pk,
                    None
                    if method.product in ("iam", "account")
                    else tenant.projects[int(random_() ** 2 * len(tenant.projects))],
                    locality,
                    region,
                    who.id,
                    who.type,
                    who.name,
                    ip,
                    who.agent,
                    method.product,
                    method.service,
                    method.name,
                    resources,
                    f"{getrandbits(64):016x}",
                    self.bodies[getrandbits(2) % 3],
                    status,
                )
            )
        return rows


def _batches(rows: _Rows, *, events: int, end: datetime) -> Iterator[list[EventRow]]:
    """`events` rows in time order, `batch_size` at a time, over the DAYS before `end`."""
    size = batch_size(events)
    hours = _hours(end, DAYS)
    total = sum(w for _, w in hours)
    # Whole counts per hour that add up to `events` exactly (largest remainders).
    shares = [events * w / total for _, w in hours]
    counts = [math.floor(s) for s in shares]
    for i in sorted(range(len(hours)), key=lambda i: counts[i] - shares[i])[: events - sum(counts)]:
        counts[i] += 1
    pending: list[EventRow] = []
    stop = end.timestamp()
    for (start, _), count in zip(hours, counts, strict=True):
        pending += rows.between(start, min(start + 3600, stop), count)
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


def copy_values(row: EventRow) -> list[Any]:
    """A row as COPY's text format takes it (JSON columns as JSON text), ready before the clock."""
    values = list(row)
    for i in JSON_COLUMNS:
        values[i] = orjson.dumps(values[i]).decode()
    return values


def timed_copy(rows: list[list[Any]]) -> float:
    """The ready rows COPYed into audit_event (every index), one transaction: seconds."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in Event._meta.concrete_fields if f.column)
    start = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {qn(Event._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for values in rows:
            copy.write_row(values)
    return time.perf_counter() - start


def timed_batch(rows: list[EventRow]) -> float:
    """The rows through our batch path, `record_many` (claims, COPY, announce): seconds."""
    start = time.perf_counter()
    stored = record_many(rows)
    seconds = time.perf_counter() - start
    if len(stored) != len(rows):
        raise BenchError(f"record_many stored {len(stored)} of {len(rows)} events")
    return seconds


def _prepared(batches: Iterator[list[EventRow]]) -> Iterator[tuple[list[EventRow], list[list[Any]]]]:
    """Each batch with its rows ready for COPY, drawn by a thread of their own a few batches ahead,
    so that drawing the next batches overlaps the database's work on this one (the thread only
    computes: it touches no database)."""
    ahead: queue.Queue[tuple[list[EventRow], list[list[Any]]] | None] = queue.Queue(maxsize=3)
    failure: list[BaseException] = []

    def draw() -> None:
        try:
            for i, batch in enumerate(batches):
                ahead.put((batch, [] if i % BATCH_EVERY == 0 else [copy_values(row) for row in batch]))
        except BaseException as error:  # handed to the consumer, which raises it
            failure.append(error)
        finally:
            ahead.put(None)

    thread = threading.Thread(target=draw, name="bench-trail", daemon=True)
    thread.start()
    while (item := ahead.get()) is not None:
        yield item
    thread.join()
    if failure:
        raise failure[0]


def _gin_indexes() -> dict[str, str]:
    """The events table's GIN indexes (resources, and the free text's trigrams), name -> the
    statement that builds them on the table and every partition. The load drops them and builds
    them after: a GIN index built at once takes minutes where inserting a trail into it row by row
    took most of an hour at 10 M. The ingestion rounds of every run (`sample_ingestion`) time both
    paths with them in place."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = %s::regclass AND a.amname = 'gin' ORDER BY c.relname",
            [Event._meta.db_table],
        )
        return {name: definition.replace(" ON ONLY ", " ON ", 1) for name, definition in cursor.fetchall()}


def _build(definitions: list[str]) -> None:
    """Run the CREATE INDEX statements side by side, one connection per CPU: PostgreSQL builds a
    GIN index in one process (no parallel workers for GIN), and the trigram ones are CPU-bound."""
    pending: queue.SimpleQueue[str] = queue.SimpleQueue()
    for definition in definitions:
        pending.put(definition)
    failure: list[BaseException] = []

    def build() -> None:
        try:
            with connection.cursor() as cursor:
                # A GIN build gathers its entries in maintenance_work_mem (64 MB by default):
                # more memory, fewer flushes to merge.
                cursor.execute("SET maintenance_work_mem TO '1GB'")
                while True:
                    try:
                        definition = pending.get_nowait()
                    except queue.Empty:
                        return
                    cursor.execute(definition)
        except BaseException as error:  # handed to the caller, which raises it
            failure.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=build, name=f"bench-index-{i}", daemon=True)
        for i in range(min(len(definitions), os.cpu_count() or 1))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failure:
        raise failure[0]


def _load(*, events: int, seed: int, out: TextIOBase) -> Trail:
    if events < 1_000:
        raise BenchError("Need N >= 1000 events.")
    rng = random.Random(seed)
    weights = zipf(ORGANIZATIONS)
    tenants = _cast(rng, weights)
    rows = _Rows(rng, tenants, weights)
    end = datetime.now(UTC).replace(microsecond=0)
    ensure_partitions(months_back=DAYS // 28 + 1)
    # A load cut short leaves a marker of no trail: the next run starts again on a fresh database.
    _write_marker("loading", Trail(0, end, datetime.now(UTC), 0.0, 0.0, 0.0, 0.0))
    deferred = _gin_indexes()
    out.write(
        f"Loading {events:,} events over {DAYS} days for {ORGANIZATIONS} organizations "
        f"(the largest {weights[0]:.0%}), {sum(len(t.principals) for t in tenants):,} principals, "
        f"{len(rows.methods)} methods; batches of {batch_size(events):,}, one in {BATCH_EVERY} through "
        f"record_many, the others by a raw COPY; the {len(deferred)} GIN indexes built after\n"
    )
    with connection.cursor() as cursor:
        for index in deferred:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(index)}")
    timings: dict[str, list[float]] = {"batch": [], "copy": []}  # seconds per event, per batch
    ratios: list[float] = []
    started = time.perf_counter()
    last_report = started
    loaded = 0
    for i, (batch, ready) in enumerate(_prepared(_batches(rows, events=events, end=end))):
        if i % BATCH_EVERY == 0:
            timings["batch"].append(timed_batch(batch) / len(batch))
        else:
            timings["copy"].append(timed_copy(ready) / len(batch))
            if i % BATCH_EVERY == 1:  # per event, this COPY against the batch just before it
                ratios.append(timings["copy"][-1] / timings["batch"][-1])
        loaded += len(batch)
        if time.perf_counter() - last_report > 60:
            last_report = time.perf_counter()
            out.write(f"  {loaded:,} events, {last_report - started:.0f} s\n")
    seconds = time.perf_counter() - started
    batch_rate = 1 / statistics.fmean(timings["batch"]) if timings["batch"] else 0.0
    copy_rate = 1 / statistics.fmean(timings["copy"]) if timings["copy"] else 0.0
    out.write(f"Loaded {loaded:,} events in {seconds:.0f} s (generating the rows included)\n")
    started = time.perf_counter()
    _build(list(deferred.values()))
    out.write(f"Built the GIN indexes: {time.perf_counter() - started:.0f} s\n")
    started = time.perf_counter()
    rebuild_rollup()  # the raw COPYs went around the door, which keeps the timeline's hourly counts
    out.write(f"Counted the events per hour (audit_event_rollup): {time.perf_counter() - started:.0f} s\n")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_event")
        cursor.execute("VACUUM ANALYZE audit_event_rollup")
    out.write(f"VACUUM ANALYZE audit_event: {time.perf_counter() - started:.0f} s\n")
    return Trail(
        events=loaded,
        end=end + timedelta(seconds=1),
        loaded_at=datetime.now(UTC),
        load_seconds=seconds,
        batch_rate=batch_rate,
        copy_rate=copy_rate,
        ratio_median=statistics.median(ratios) if ratios else 0.0,
    )


def sample_ingestion(
    *, rounds: int, size: int, seed: int, organizations: int = 1
) -> tuple[float, float, float]:
    """Our batch path against a raw COPY now, on the trail as it stands: batches of one
    organization, as ingestion sends them ("Bench ingestion sample", apart from the timed ones),
    or spanning `organizations` of Zipf-like sizes as a bulk load does ("Bench ingestion sample
    NN"), each batch its own transaction, committed (announced). `rounds` rounds of one batch per
    path, interleaved, each path going first in turn, after one untimed round. Returns (record_many
    events/s, COPY events/s, the median of the per-round ratios)."""
    rng = random.Random(seed)
    if organizations == 1:
        weights = [1.0]
        tenants = [_tenant(rng, "Bench ingestion sample", "sample", network=200, weight=0.01)]
    else:
        weights = zipf(organizations)
        tenants = [
            _tenant(
                rng, f"Bench ingestion sample {rank + 1:02}", f"sample{rank + 1:02}", network=201, weight=0.01
            )
            for rank in range(organizations)
        ]
    rows = _Rows(rng, tenants, weights)
    batch_times: list[float] = []
    copy_times: list[float] = []
    ratios = []
    for round_ in range(rounds + 1):
        now = datetime.now(UTC).timestamp()
        ours = rows.between(now - 60, now, size)
        raw = [copy_values(row) for row in rows.between(now - 60, now, size)]
        if round_ % 2:
            copy_seconds, batch_seconds = timed_copy(raw), timed_batch(ours)
        else:
            batch_seconds, copy_seconds = timed_batch(ours), timed_copy(raw)
        if round_ == 0:
            continue  # warm-up
        batch_times.append(batch_seconds)
        copy_times.append(copy_seconds)
        ratios.append(copy_seconds / batch_seconds)
    rebuild_rollup()  # the raw COPYs went around the door: count the sample organization's hours again
    return (
        size * rounds / sum(batch_times),
        size * rounds / sum(copy_times),
        statistics.median(ratios),
    )
