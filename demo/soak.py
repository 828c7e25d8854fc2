"""The soak: a bounded mixed workload against gunicorn and PostgreSQL, then proof that nothing was lost.

`manage.py soak` (`make soak`, `make soak-ci`) runs, on loopback:
1. a database of its own, dropped and created afresh, migrated (cache table and monthly partitions
   included) by the project's own commands, and seeded through its services: an organization,
   its owner with a password, the owner's API key (reads) and a producer application's key
   (`AuditTrailEventsWriter`, ingestion);
2. gunicorn with `workers` workers (config/gunicorn.py) and `db_workers` db_workers, as
   production runs them: DEBUG=0, a generated SECRET_KEY, ALLOWED_HOSTS=127.0.0.1; every
   preconfigured alert rule active, a security contact, and an export job whose runs are
   enqueued several at once for the workers to race on;
3. `concurrency` virtual clients until `duration` seconds have passed or `requests` requests have
   been made, whichever comes first. They mix ingestion batches (ids made by the client; some
   batches retried whole, some half, some sent twice at once, a few refused on purpose), the
   Events page and its drawer with random filters (signed in), ListEvents with random filters,
   and console logins, some with a wrong password;
4. per endpoint: requests, requests/s, p50/p95/p99 latency, and the answers sorted into expected
   ones (a wrong password's form error, 429, the refused batches' 400) and the others (any other
   status, 5xx apart, and transport errors);
5. the proof: every acknowledged event id is stored, exactly once, and no id of a refused batch is;
   once the workers have drained the queue, each alert fired once (none for the same event or
   burst twice, none missed) and was e-mailed once, each export day was written once and whole,
   no task failed, and `/metrics` (summed over the gunicorn workers) counted every event the
   servers recorded.

Gunicorn and the worker are stopped (SIGTERM, then SIGKILL) whatever happens. The clients are
threads over `http.client`: the standard library is enough to keep 3 sync workers busy, and the
server, not the client, is what is measured.
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from io import TextIOBase
from pathlib import Path
from random import Random
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit

import orjson
import psycopg
from django.conf import settings
from django.db import connection
from psycopg import sql

from audit.catalogue import PRODUCTS, RESOURCE_TYPES, LocalityKind
from core.ids import uuid7
from core.regions import REGIONS

ENDPOINTS = ("ingest", "list_events", "events_page", "event_drawer", "login_form", "login")
# What each virtual client's next action is, by weight. A login is two requests, and its password
# hash costs the server far more CPU than any other request: a few percent of the actions.
ACTIONS = (("ingest", 40), ("list_events", 26), ("events_page", 22), ("event_drawer", 8), ("login", 4))

OK, EXPECTED, UNEXPECTED, SERVER_ERROR, TRANSPORT = "ok", "expected", "unexpected", "5xx", "transport"
REQUEST_TIMEOUT = 30.0
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
OWNER_EMAIL = "owner@soak.invalid"
ORGANIZATION_NAME = "Soak"
CSRF_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class SoakError(Exception):
    """The soak could not run (set-up, a server that would not start): no figures to trust."""


@dataclass(frozen=True)
class Profile:
    duration: float  # seconds of workload
    requests: int  # at most this many requests
    concurrency: int  # virtual clients


PROFILES = {"default": Profile(60, 100_000, 8), "short": Profile(15, 20_000, 4)}


@dataclass(frozen=True)
class SoakConfig:
    duration: float
    requests: int
    concurrency: int
    database: str
    json_path: Path
    log_dir: Path
    workers: int = 3
    db_workers: int = 2
    seed: int = 0


@dataclass(frozen=True)
class Seed:
    organization_id: uuid.UUID
    owner_id: uuid.UUID
    password: str
    reader_secret: str  # the owner's key: ListEvents
    writer_secret: str  # the producer application's key: ingestion
    export_job_id: uuid.UUID  # a daily export of fr-par, which the workers run at once, racing
    events_before: int  # the organization's events once seeded, before any server ran


# The export job's window (EXPORT_DAYS for the servers): as many complete days, each written once.
EXPORT_DAYS = 5
# Runs of the export job enqueued together at the start, for the db_workers to race on.
EXPORT_RUNS = 4
# Seeded events per past day, for the export to carry.
EXPORT_EVENTS_PER_DAY = 40
# How long the workers get, once the load stops, to finish the evaluations and e-mails it queued.
DRAIN_TIMEOUT = 120.0
METRICS_TOKEN = secrets.token_urlsafe(24)


# --- the database -----------------------------------------------------------------------------------


def default_database_name() -> str:
    return f"{connection.settings_dict['NAME']}_soak"


def _check_database_name(name: str) -> None:
    """The soak drops the database it is given: never the configured one, never one not meant for it."""
    if connection.vendor != "postgresql" or not os.environ.get("DATABASE_URL"):
        raise SoakError("The soak runs on PostgreSQL: set DATABASE_URL=postgres://… (its server is used).")
    if name == connection.settings_dict["NAME"]:
        raise SoakError(
            f"The soak drops its database: give it one of its own, not {name!r} (DATABASE_URL's)."
        )
    if "soak" not in name:
        raise SoakError(f"The soak drops its database: its name must contain 'soak' ({name!r} does not).")


def _database_url(name: str) -> str:
    """DATABASE_URL with its database name replaced: same server, user and options."""
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


def _recreate_database(name: str) -> None:
    params = connection.settings_dict
    with psycopg.connect(
        dbname="postgres",
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    ) as admin:
        # FORCE: a previous run's leftover connections (a killed soak) must not keep it alive.
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _manage(args: list[str], env: dict[str, str], log: TextIO) -> None:
    """A management command in a process of its own, with the servers' settings."""
    log.write(f"$ manage.py {' '.join(args)}\n")
    log.flush()
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=600,
    )
    if done.returncode != 0:
        raise SoakError(f"manage.py {' '.join(args)} failed ({done.returncode}): see {log.name}")


@contextmanager
def _using_database(name: str) -> Iterator[None]:
    """Point this process's ORM at the soak's database, as Django's test runner does for its own."""
    original = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original


def _seed() -> Seed:
    """The organization, its owner and two API keys, made by the project's own services."""
    from audit.services import Actor
    from iam.management.commands.create_api_key import bootstrap_api_key
    from iam.models import User
    from iam.services import api_key_create, organization_create

    password = secrets.token_urlsafe(18)
    owner = User.objects.create_user(email=OWNER_EMAIL, password=password)
    organization = organization_create(name=ORGANIZATION_NAME, owner=owner)
    # Before the keys: their creation is an event the (then active) alert rules must see.
    job_id = _seed_background_work(organization.pk)
    _, reader_secret = api_key_create(
        actor=Actor.system(), organization=organization, user=owner, description="soak: reads"
    )
    _, writer_secret = bootstrap_api_key(
        organization=organization,
        user=owner,
        application_name="soak-producer",
        permission_sets=["AuditTrailEventsWriter"],
        description="soak: ingestion",
    )
    from audit.models import Event

    before = Event.objects.filter(organization_id=organization.pk).count()
    return Seed(organization.pk, owner.pk, password, reader_secret, writer_secret, job_id, before)


def _seed_background_work(organization_id: uuid.UUID) -> uuid.UUID:
    """Work for the db_workers to race on: every preconfigured alert rule active in every region
    (the ingested events fire them, per event and per burst of 403s), a security contact (so
    each alert is e-mailed), and an export job over days of events seeded here."""
    from alerts.models import AlertRuleSetting, NotificationContact
    from alerts.rules import PRECONFIGURED
    from audit.services import Actor, build_event, record_many
    from exports.models import ExportJob

    AlertRuleSetting.objects.bulk_create(
        AlertRuleSetting(organization_id=organization_id, region=region, rule_name=rule.name, enabled=True)
        for region in REGIONS
        for rule in PRECONFIGURED
    )
    NotificationContact.objects.create(
        organization_id=organization_id, email="security@soak.invalid", security=True
    )
    today = datetime.now(UTC).date()
    actor = Actor(principal_type="application", principal_id=uuid.uuid4(), principal_name="soak-seed")
    for back in range(1, EXPORT_DAYS + 1):
        start = datetime.combine(today - timedelta(days=back), datetime.min.time(), tzinfo=UTC)
        record_many(
            [
                build_event(
                    organization_id=organization_id,
                    actor=actor,
                    product_name="secret-manager",
                    service_name="scaleway.secret_manager.v1beta1.Api",
                    method_name="CreateSecret",
                    locality="fr-par",
                    recorded_at=start + timedelta(minutes=30 * i),
                )
                for i in range(EXPORT_EVENTS_PER_DAY)
            ]
        )
    # Not due: its runs are the ones the soak enqueues together when the load starts.
    job = ExportJob.objects.create(
        organization_id=organization_id,
        region="fr-par",
        name="soak-daily",
        bucket="soak",
        s3_region="fr-par",
        next_run_at=datetime.now(UTC) + timedelta(days=1),
    )
    return job.pk


# --- the servers ------------------------------------------------------------------------------------


def server_env(database_url: str) -> dict[str, str]:
    """Production settings on loopback: DEBUG off, a fresh SECRET_KEY, plain HTTP."""
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY_FILE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            # The soak measures the service, not the per-key limit: set far above what it sends,
            # while every request still goes through the limiter's shared counter.
            "API_RATE_LIMIT": str(10**9),
            "SECURE_COOKIES": "0",  # plain HTTP on loopback
            # Each login comes "from" an address of its own (X-Forwarded-For, believed from
            # loopback only), so that the per-IP login throttle does not lock the owner out.
            "TRUSTED_PROXIES": "127.0.0.1",
            "EMAIL_BACKEND": os.environ.get(
                "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
            ),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # The workers sweep (due exports, lost e-mails) every 2 s instead of every minute.
            "TASKS_WORKER_SWEEP_INTERVAL": "2",
            "EXPORT_DAYS": str(EXPORT_DAYS),
            "METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(args: list[str], env: dict[str, str], log: TextIO) -> subprocess.Popen[bytes]:
    # A session of its own: a Ctrl-C at the terminal reaches the soak, which then stops them in order.
    return subprocess.Popen(
        args, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL to its whole process group if it has not exited in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def _wait_until_answering(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SoakError(f"gunicorn exited with {process.returncode} at start: {_tail(log_path)}")
        with suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/login/")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        time.sleep(0.25)
    raise SoakError(f"gunicorn did not answer within {STARTUP_TIMEOUT:.0f} s: {_tail(log_path)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Servers:
    port: int
    web: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]

    def deaths(self) -> list[str]:
        named = [("gunicorn", self.web)] + [(f"db_worker-{i}", w) for i, w in enumerate(self.workers, 1)]
        return [
            f"{name} exited with {process.returncode} during the run"
            for name, process in named
            if process.poll() is not None
        ]


def worker_log_names(config: SoakConfig) -> list[str]:
    return [f"worker-{i}" for i in range(1, config.db_workers + 1)]


@contextmanager
def _servers(env: dict[str, str], config: SoakConfig, exits: dict[str, int]) -> Iterator[Servers]:
    port = _free_port()
    web_log_path = config.log_dir / "soak-gunicorn.log"
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    with ExitStack() as logs:
        web_log = logs.enter_context(web_log_path.open("w"))
        worker_logs = [
            logs.enter_context((config.log_dir / f"soak-{name}.log").open("w"))
            for name in worker_log_names(config)
        ]
        try:
            # Production's gunicorn configuration (per-worker metrics summed, config/gunicorn.py).
            web = _spawn(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
                + ["-w", str(config.workers), "-b", f"127.0.0.1:{port}"],
                env | {"PROMETHEUS_MULTIPROC_DIR": str(_fresh_dir(config.log_dir / "soak-metrics"))},
                web_log,
            )
            started.append(("gunicorn", web))
            workers = []
            for i, worker_log in enumerate(worker_logs, 1):
                worker = _spawn([sys.executable, "manage.py", "db_worker", "--no-reload"], env, worker_log)
                started.append((f"db_worker-{i}", worker))
                workers.append(worker)
            _wait_until_answering(port, web, web_log_path)
            yield Servers(port, web, workers)
        finally:
            for name, process in reversed(started):
                exits[name] = _stop(process)


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _tracebacks(path: Path) -> list[str]:
    """The first line after each traceback's frames (the exception), as logged."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for index, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            rest = (later for later in lines[index + 1 :] if not later.startswith((" ", "\t")))
            found.append(next(rest, line)[:300])
    return found


# --- the workload -----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for header in self.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return {name: morsel.value for name, morsel in jar.items()}


class Budget:
    """Requests left and time left, shared by every client; `stop()` ends the run early."""

    def __init__(self, requests: int, duration: float) -> None:
        self.left = requests
        self.deadline = time.monotonic() + duration
        self.stopped = False
        self.lock = threading.Lock()

    def take(self, n: int = 1) -> bool:
        with self.lock:
            if self.stopped or self.left < n or time.monotonic() >= self.deadline:
                return False
            self.left -= n
            return True

    def stop(self) -> None:
        self.stopped = True


@dataclass
class Tally:
    """One client's record: latencies and outcomes per endpoint, and what ingestion acknowledged."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    outcomes: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    acked: set[uuid.UUID] = field(default_factory=set)
    refused: set[uuid.UUID] = field(default_factory=set)
    unanswered: set[uuid.UUID] = field(default_factory=set)
    batches: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # A batch sent twice at once records from two threads.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, endpoint: str, seconds: float, category: str, status: str) -> None:
        with self.lock:
            self.latencies.setdefault(endpoint, []).append(seconds)
            self.outcomes.setdefault(endpoint, Counter())[(category, status)] += 1


_addresses = itertools.count(1)


def _next_address() -> str:
    """A distinct client address per login (10.0.0.1, 10.0.0.2, …)."""
    n = next(_addresses)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


class Client:
    """One virtual client: its own random stream, console session and record."""

    def __init__(self, index: int, port: int, seed: Seed, config: SoakConfig, budget: Budget) -> None:
        self.port = port
        self.seed = seed
        self.budget = budget
        self.rng = Random(config.seed * 1000 + index)
        self.index = index
        self.tally = Tally()
        self.session: dict[str, str] = {}
        self.sent: deque[list[dict[str, Any]]] = deque(maxlen=64)  # acknowledged batches, to retry
        self.failed_logins = itertools.count()
        # Principals: a few unknown ones, and the owner (whose name ingestion resolves).
        self.principals = [str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(5)]
        self.principals.append(str(seed.owner_id))

    # --- HTTP ---

    def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        classify: Callable[[Answer], str],
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer | None:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        except (OSError, http.client.HTTPException) as error:
            self.tally.add(endpoint, time.perf_counter() - start, TRANSPORT, type(error).__name__)
            self._note(f"{endpoint} {method} {path[:120]}: {type(error).__name__}: {error}")
            return None
        finally:
            conn.close()
        elapsed = time.perf_counter() - start
        category = SERVER_ERROR if answer.status >= 500 else classify(answer)
        self.tally.add(endpoint, elapsed, category, str(answer.status))
        if category in (UNEXPECTED, SERVER_ERROR):
            self._note(f"{endpoint} {method} {path[:120]}: {answer.status} {answer.body[:200]!r}")
        return answer

    def _note(self, line: str) -> None:
        if len(self.tally.unexpected) < 20:
            self.tally.unexpected.append(line)

    def _cookie_header(self, cookies: dict[str, str]) -> str:
        return "; ".join(f"{name}={value}" for name, value in cookies.items())

    # --- the loop ---

    def run(self) -> None:
        if self.budget.take(2):
            self.session = self.login(OWNER_EMAIL, self.seed.password) or {}
        actions: dict[str, Callable[[], bool]] = {
            "ingest": self.ingest,
            "list_events": self.list_events,
            "events_page": self.events_page,
            "event_drawer": self.event_drawer,
            "login": self.some_login,
        }
        names, weights = [name for name, _ in ACTIONS], [weight for _, weight in ACTIONS]
        # Each action returns False once the budget (requests or time) is spent.
        while actions[self.rng.choices(names, weights)[0]]():
            pass

    # --- ingestion ---

    def event(self, at: datetime) -> dict[str, Any]:
        rng = self.rng
        product = rng.choice(PRODUCTS)
        service = rng.choice(product.services)
        method = rng.choice(service.methods)
        region = rng.choice(product.regions)
        locality = {
            LocalityKind.GLOBAL: "global",
            LocalityKind.REGIONAL: region,
            LocalityKind.ZONAL: f"{region}-{rng.randint(1, 2)}",
        }[product.locality_kind]
        resource_type = product.resource_type_of(method) or "unknown_type"
        name = f"{resource_type}-{rng.randrange(1000)}"
        return {
            "id": str(uuid7(at)),
            "recorded_at": at.isoformat(),
            "locality": locality,
            "principal": {"id": rng.choice(self.principals)},
            "source_ip": f"198.51.100.{rng.randrange(1, 255)}",
            "user_agent": "soak/1.0 scaleway-sdk-go/v1.0.0-beta.7",
            "product_name": product.name,
            "service_name": service.name,
            "method_name": method,
            "resources": [{"id": str(uuid.uuid4()), "type": resource_type, "name": name}],
            "request_id": str(uuid.uuid4()),
            "request_body": {"name": name, "secret_key": "not-stored"},
            "status_code": rng.choice([200] * 9 + [403]),
        }

    def fresh_batch(self) -> list[dict[str, Any]]:
        r = self.rng.random()
        size = self.rng.randint(1, 20) if r < 0.7 else self.rng.randint(20, 100) if r < 0.95 else 500
        now = datetime.now(UTC)
        return [self.event(now - timedelta(seconds=self.rng.uniform(0, 3000))) for _ in range(size)]

    def ingest(self) -> bool:
        r = self.rng.random()
        if r < 0.10 and self.sent:  # the whole batch again, as a client that lost the answer
            return self.post_batch(self.rng.choice(self.sent), new=0, kind="retried")
        if r < 0.15 and self.sent:  # half an acknowledged batch, half new events
            old = self.rng.choice(self.sent)
            batch = self.rng.sample(old, max(1, len(old) // 2)) + self.fresh_batch()
            return self.post_batch(batch, new=len(batch) - max(1, len(old) // 2), kind="overlapping")
        if r < 0.18:
            return self.post_pair(self.fresh_batch())
        if r < 0.21:
            return self.post_invalid(self.fresh_batch())
        batch = self.fresh_batch()
        return self.post_batch(batch, new=len(batch), kind="fresh")

    def _ingest_headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.seed.writer_secret, "Content-Type": "application/json"}

    def _send(self, batch: list[dict[str, Any]]) -> tuple[Answer | None, int | None]:
        """POST a batch; an acknowledged one's ids are remembered. Returns the answer and `created`."""
        ids = {uuid.UUID(event["id"]) for event in batch}
        answer = self.call(
            "ingest",
            "POST",
            "/x/audit-trail/v1/events",
            lambda a: OK if a.status == 200 else EXPECTED if a.status == 429 else UNEXPECTED,
            headers=self._ingest_headers(),
            body=orjson.dumps({"events": batch}),
        )
        with self.tally.lock:
            if answer is None or answer.status != 200:
                self.tally.unanswered |= ids - self.tally.acked  # maybe stored, maybe not: no claim
                return answer, None
            self.tally.acked |= ids
            self.tally.unanswered -= ids
        try:
            created = orjson.loads(answer.body).get("created")
        except (ValueError, AttributeError):
            created = None
        return answer, created if isinstance(created, int) else None

    def post_batch(self, batch: list[dict[str, Any]], *, new: int, kind: str) -> bool:
        if not self.budget.take():
            return False
        answer, created = self._send(batch)
        if answer is not None and answer.status == 200:
            self.tally.batches[kind] += 1
            self.sent.append(batch)
            if created is not None and created != new:
                self.tally.mismatches.append(
                    f"{kind} batch of {len(batch)}: created {created}, expected {new}"
                )
        return True

    def post_pair(self, batch: list[dict[str, Any]]) -> bool:
        """The same new batch from two connections at once: both acknowledged, stored once."""
        if not self.budget.take(2):
            return False
        barrier = threading.Barrier(2)
        results: list[tuple[Answer | None, int | None]] = []

        def send() -> None:
            with suppress(threading.BrokenBarrierError):
                barrier.wait(5)
            results.append(self._send(batch))

        twin = threading.Thread(target=send)
        twin.start()
        send()
        twin.join()
        if all(answer is not None and answer.status == 200 for answer, _ in results):
            self.tally.batches["sent twice at once"] += 1
            self.sent.append(batch)
            created = [c for _, c in results if c is not None]
            if len(created) == len(results) and sum(created) != len(batch):
                self.tally.mismatches.append(
                    f"batch of {len(batch)} sent twice at once: created {created}, expected {len(batch)} in all"
                )
        return True

    def post_invalid(self, batch: list[dict[str, Any]]) -> bool:
        """A batch with one bad event: refused whole (400), so none of its ids may be stored."""
        if not self.budget.take():
            return False
        batch[self.rng.randrange(len(batch))]["status_code"] = 42
        answer = self.call(
            "ingest",
            "POST",
            "/x/audit-trail/v1/events",
            lambda a: EXPECTED if a.status in (400, 429) else UNEXPECTED,
            headers=self._ingest_headers(),
            body=orjson.dumps({"events": batch}),
        )
        if answer is not None and answer.status == 400:
            self.tally.batches["refused (one bad event)"] += 1
            self.tally.refused |= {uuid.UUID(event["id"]) for event in batch}
        return True

    # --- reads ---

    def _filters(self) -> dict[str, str]:
        """A random, valid combination of the filters the console and the API share."""
        rng = self.rng
        product = rng.choice(PRODUCTS)
        choices = {
            "product": product.name,
            "method": rng.choice(product.methods),
            "status": rng.choice(["200", "403"]),
            "principal": rng.choice(self.principals),
            "ip": rng.choice(["198.51.100.7", "198.51.100.0/24", "10.0.0.0/8", "2001:db8::/32"]),
            "resource_type": rng.choice(sorted(RESOURCE_TYPES)),
            "resource_id": str(uuid.uuid4()),
            "q": rng.choice(["Secret", "Create", "instance", "owner@soak", "api_key", "-42"]),
        }
        picked = rng.sample(sorted(choices), rng.choice([0, 0, 1, 1, 2, 3]))
        if "method" in picked and "product" not in picked:
            picked.append("product")
        return {name: choices[name] for name in picked}

    def events_page(self) -> bool:
        if not self.budget.take():
            return False
        params = {"region": self.rng.choice(REGIONS), "range": self.rng.choice(["1h", "1h", "24h", "7d"])}
        params |= self._filters()
        if self.rng.random() < 0.2:
            params["order"] = "recorded_at"
        headers = {"Cookie": self._cookie_header(self.session)}
        if self.rng.random() < 0.4:  # htmx swapping the results in place, as the filters do
            headers |= {
                "HX-Request": "true",
                "HX-Target": "results",
                "HX-Current-URL": "/audit-trail/events/",
            }
        self.call(
            "events_page",
            "GET",
            f"/audit-trail/events/?{urlencode(params)}",
            lambda a: OK if a.status == 200 else UNEXPECTED,
            headers=headers,
        )
        return True

    def event_drawer(self) -> bool:
        if not self.sent:
            return self.ingest()
        if not self.budget.take():
            return False
        batch = self.rng.choice(self.sent)
        event_id = self.rng.choice(batch)["id"]
        self.call(
            "event_drawer",
            "GET",
            f"/audit-trail/events/{event_id}/",
            # Read-your-writes: an acknowledged event opens, and the drawer shows it.
            lambda a: OK if a.status == 200 and event_id.encode() in a.body else UNEXPECTED,
            headers={"Cookie": self._cookie_header(self.session)},
        )
        return True

    def list_events(self) -> bool:
        if not self.budget.take():
            return False
        rng = self.rng
        names = {"product": "product_name", "method": "method_name", "status": "status"}
        names |= {"principal": "principal_id", "ip": "source_ip", "resource_type": "resource_type"}
        names |= {"resource_id": "resource_id"}
        params = {names[k]: v for k, v in self._filters().items() if k in names}
        now = datetime.now(UTC)
        params["recorded_after"] = (now - timedelta(minutes=rng.choice([10, 60, 60, 24 * 60]))).isoformat()
        params["order_by"] = rng.choice(["recorded_at_desc", "recorded_at_asc"])
        params["page_size"] = str(rng.choice([10, 20, 50, 100]))
        path = f"/audit-trail/v1alpha1/regions/{rng.choice(REGIONS)}/events"
        headers = {"X-Auth-Token": self.seed.reader_secret}

        def classify(a: Answer) -> str:
            return OK if a.status == 200 else EXPECTED if a.status == 429 else UNEXPECTED

        answer = self.call("list_events", "GET", f"{path}?{urlencode(params)}", classify, headers=headers)
        # Now and then the next page, through the token the first one gave.
        if answer is not None and answer.status == 200 and rng.random() < 0.3:
            with suppress(ValueError, AttributeError):
                token = orjson.loads(answer.body).get("next_page_token")
                if token and self.budget.take():
                    params["page_token"] = token
                    self.call("list_events", "GET", f"{path}?{urlencode(params)}", classify, headers=headers)
        return True

    # --- logins ---

    def some_login(self) -> bool:
        if not self.budget.take(2):
            return False
        if self.rng.random() < 0.6:
            self.login(OWNER_EMAIL, self.seed.password)
        else:  # a distinct unknown address each time: no e-mail reaches its own throttle
            self.login(f"nobody-{self.index}-{next(self.failed_logins)}@soak.invalid", "wrong-password")
        return True

    def login(self, email: str, password: str) -> dict[str, str] | None:
        """GET the form, POST it; the session's cookies when the password was right."""
        forwarded = {"X-Forwarded-For": _next_address()}
        form = self.call(
            "login_form", "GET", "/login/", lambda a: OK if a.status == 200 else UNEXPECTED, headers=forwarded
        )
        if form is None or form.status != 200 or not (token := CSRF_RE.search(form.body)):
            return None
        cookies = form.cookies()
        right = password == self.seed.password

        def classify(a: Answer) -> str:
            if a.status == 429:  # the login throttle
                return EXPECTED
            if right:
                return OK if a.status == 302 and "sessionid" in a.cookies() else UNEXPECTED
            return EXPECTED if a.status == 200 else UNEXPECTED  # the form again, with its error

        answer = self.call(
            "login",
            "POST",
            "/login/",
            classify,
            headers=forwarded
            | {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self._cookie_header(cookies)},
            body=urlencode(
                {"username": email, "password": password, "csrfmiddlewaretoken": token.group(1).decode()}
            ).encode(),
        )
        if answer is None or answer.status != 302:
            return None
        return cookies | answer.cookies()


def _workload(port: int, seed: Seed, config: SoakConfig, out: TextIOBase) -> tuple[list[Client], float]:
    budget = Budget(config.requests, config.duration)
    clients = [Client(i, port, seed, config, budget) for i in range(config.concurrency)]
    threads = [
        threading.Thread(target=c.run, name=f"soak-client-{i}", daemon=True) for i, c in enumerate(clients)
    ]
    start = time.monotonic()
    out.write(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start\n")
    try:
        for thread in threads:
            thread.start()
        hard_stop = start + config.duration + REQUEST_TIMEOUT + 10
        next_report = start + 10
        while any(thread.is_alive() for thread in threads) and time.monotonic() < hard_stop:
            time.sleep(0.2)
            if time.monotonic() >= next_report:
                next_report += 10
                made = sum(len(ls) for c in clients for ls in list(c.tally.latencies.values()))
                bad = sum(
                    n
                    for c in clients
                    for outcomes in list(c.tally.outcomes.values())
                    for (category, _), n in list(outcomes.items())
                    if category in (SERVER_ERROR, TRANSPORT)
                )
                out.write(
                    f"  {time.monotonic() - start:5.0f} s: {made:,} requests, {bad} 5xx/transport errors\n"
                )
                out.flush()
    finally:
        budget.stop()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
    out.write(f"  load average {os.getloadavg()[0]:.1f} at the end\n")
    return clients, time.monotonic() - start


# --- figures and proof ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def endpoint_figures(clients: list[Client], elapsed: float) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        latencies = sorted(x for c in clients for x in c.tally.latencies.get(endpoint, []))
        outcomes: Counter[tuple[str, str]] = Counter()
        for c in clients:
            outcomes.update(c.tally.outcomes.get(endpoint, Counter()))
        by_category: dict[str, dict[str, int]] = {}
        for (category, status), n in sorted(outcomes.items()):
            by_category.setdefault(category, {})[status] = n
        figures[endpoint] = {
            "requests": len(latencies),
            "requests_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p95_ms": round(percentile(latencies, 95) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round((latencies[-1] if latencies else 0) * 1000, 1),
            **{category: sum(by_category.get(category, {}).values()) for category in (OK, EXPECTED)},
            "unexpected": sum(by_category.get(UNEXPECTED, {}).values()),
            "server_errors": sum(by_category.get(SERVER_ERROR, {}).values()),
            "transport_errors": sum(by_category.get(TRANSPORT, {}).values()),
            "statuses": by_category,
        }
    return figures


def verify(
    organization_id: uuid.UUID, acked: set[uuid.UUID], refused: set[uuid.UUID], unanswered: set[uuid.UUID]
) -> dict[str, Any]:
    """Every acknowledged id stored exactly once; no id of a refused batch stored at all.

    `unanswered` ids (a 5xx, a timeout) may be stored or not: they are counted, not judged.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, count(*) FROM audit_event WHERE organization_id = %s GROUP BY id HAVING count(*) > 1",
            [organization_id],
        )
        duplicated = {row[0]: row[1] for row in cursor.fetchall()}
        cursor.execute("SELECT id FROM audit_event WHERE organization_id = %s", [organization_id])
        stored = {row[0] for row in cursor.fetchall()}
    lost = acked - stored
    invented = refused & stored
    return {
        "acknowledged": len(acked),
        "stored_of_acknowledged": len(acked & stored),
        "lost": len(lost),
        "duplicated_ids": len(duplicated),
        "extra_copies": sum(n - 1 for n in duplicated.values()),
        "refused": len(refused),
        "refused_but_stored": len(invented),
        "unanswered": len(unanswered),
        "unanswered_but_stored": len(unanswered & stored),
        "events_in_organization": len(stored),
        "examples": {
            "lost": sorted(map(str, lost))[:5],
            "duplicated": sorted(map(str, duplicated))[:5],
            "refused_but_stored": sorted(map(str, invented))[:5],
        },
    }


def _enqueue_export_runs(job_id: uuid.UUID) -> None:
    """Several runs of one export job at once: the two db_workers take them together."""
    from exports.tasks import export_job_run_task

    for _ in range(EXPORT_RUNS):
        export_job_run_task.enqueue(str(job_id))


def _drain(servers: Servers, out: TextIOBase) -> int:
    """Wait for the workers to finish what the load queued (evaluations, e-mails, export runs):
    the tasks ready or running, and the e-mails not yet sent. Returns what is left (0: drained)."""
    from django_tasks_db.models import DBTaskResult

    from alerts.models import Alert
    from worker.models import Delivery

    deadline = time.monotonic() + DRAIN_TIMEOUT
    left = -1
    while time.monotonic() < deadline and not servers.deaths():
        tasks = (DBTaskResult.objects.ready() | DBTaskResult.objects.running()).count()
        emails = Alert.objects.filter(notification_status__in=[Delivery.PENDING, Delivery.SENDING]).count()
        left = tasks + emails
        if left == 0:
            break
        time.sleep(0.5)
    connection.close()
    out.write(f"Background work drained: {'yes' if left == 0 else f'no, {left} task(s)/e-mail(s) left'}.\n")
    return left


def _events_counted_by_metrics(port: int, organization_id: uuid.UUID) -> float | None:
    """The events /metrics says the gunicorn workers recorded for the organization, all regions."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    if response.status != 200:
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "audit_trail_events_recorded_total"
        and sample.labels.get("organization") == str(organization_id)
    )


def verify_background(seed: Seed, config: SoakConfig, export_dir: Path) -> dict[str, Any]:
    """What two db_workers did side by side: each alert fired once, and e-mailed once; each
    export day written once and whole; no task failed."""
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    from alerts.models import Alert
    from alerts.rules import PRECONFIGURED
    from audit.models import Event
    from exports.models import ExportDay
    from worker.models import Delivery

    organization = seed.organization_id
    alerts = Alert.objects.filter(organization_id=organization)
    twice = (
        alerts.values("region", "rule_key", "trigger_event_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    per_rule: dict[str, int] = {}
    too_close = missed = extra = 0
    for rule in PRECONFIGURED:
        for region in REGIONS:
            fired = sorted(
                alerts.filter(region=region, rule_key=rule.key).values_list("window_end", flat=True)
            )
            per_rule[rule.name] = per_rule.get(rule.name, 0) + len(fired)
            if rule.is_threshold:
                # One burst, one alert: no two firings of a rule closer than its cool-down.
                too_close += sum(1 for a, b in itertools.pairwise(fired) if b - a < rule.cooldown)
            else:
                # A rule per event fires exactly once for each matching event stored.
                matching = Event.objects.filter(organization_id=organization, region=region).filter(
                    rule.filter
                )
                difference = len(fired) - matching.count()
                missed += max(0, -difference)
                extra += max(0, difference)

    # Each alert's e-mail (console backend, in the workers' logs), by its Message-ID.
    sent: Counter[str] = Counter()
    for name in worker_log_names(config):
        with suppress(OSError):
            text = (config.log_dir / f"soak-{name}.log").read_text(errors="replace")
            sent.update(re.findall(r"^Message-ID: <alerts\.alert\.([0-9a-f-]+)@", text, re.MULTILINE))
    alert_ids = {str(pk) for pk in alerts.values_list("pk", flat=True)}
    unsent = alerts.exclude(notification_status=Delivery.SENT).count()

    days = list(ExportDay.objects.filter(job_id=seed.export_job_id).values_list("day", "key", "events"))
    wrong_days = []
    for day, key, events in days:
        path = export_dir / "soak" / key
        try:
            lines = gzip.decompress(path.read_bytes()).count(b"\n")
        except OSError:
            lines = -1
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        stored = Event.objects.filter(
            organization_id=organization,
            region="fr-par",
            recorded_at__gte=start,
            recorded_at__lt=start + timedelta(days=1),
        ).count()
        if not lines == events == stored:
            wrong_days.append(f"{day}: object {lines} lines, recorded {events}, stored {stored}")

    failed_tasks = list(DBTaskResult.objects.failed().values_list("task_path", flat=True)[:5])
    return {
        "alerts": len(alert_ids),
        "alerts_by_rule": per_rule,
        "alerts_fired_twice": twice + too_close + extra,
        "alerts_missed": missed,
        "alert_emails_sent_twice": sum(1 for n in sent.values() if n > 1),
        "alerts_not_emailed": unsent + len(alert_ids - set(sent)),
        "export_days": len(days),
        "export_days_expected": EXPORT_DAYS,
        "export_days_wrong": wrong_days[:5],
        "failed_tasks": DBTaskResult.objects.failed().count(),
        "failed_task_examples": failed_tasks,
    }


def _print_figures(figures: dict[str, dict[str, Any]], elapsed: float, out: TextIOBase) -> None:
    total = sum(f["requests"] for f in figures.values())
    out.write(f"\n{total:,} requests in {elapsed:.1f} s = {total / elapsed:,.1f} requests/s\n")
    header = (
        f"{'endpoint':<13} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'ok':>6} {'expected':>8} {'other':>6} {'5xx':>4} {'transport':>9}\n"
    )
    out.write(header)
    for endpoint, f in figures.items():
        out.write(
            f"{endpoint:<13} {f['requests']:>8,} {f['requests_per_s']:>7.1f} {f['p50_ms']:>8.1f} "
            f"{f['p95_ms']:>8.1f} {f['p99_ms']:>8.1f} {f[OK]:>6,} {f[EXPECTED]:>8,} {f['unexpected']:>6,} "
            f"{f['server_errors']:>4,} {f['transport_errors']:>9,}\n"
        )
    out.write(
        "expected: a wrong password's form again (200) or the login throttle (429), a rate limit "
        "(429), a batch refused on purpose (400)\n"
    )


# --- the whole run ----------------------------------------------------------------------------------


def run(config: SoakConfig, out: TextIOBase) -> dict[str, Any]:
    """Run the soak; return its summary (also written to `config.json_path`). `ok` says it passed."""
    summary: dict[str, Any] = {
        "ok": False,
        "failures": [],
        "config": {
            "db_workers": config.db_workers,
            "duration_s": config.duration,
            "max_requests": config.requests,
            "concurrency": config.concurrency,
            "gunicorn_workers": config.workers,
            "database": config.database,
            "seed": config.seed,
        },
        # The figures depend on the machine and on what else it runs.
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 2)},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    failures: list[str] = summary["failures"]
    config.log_dir.mkdir(parents=True, exist_ok=True)
    exits: dict[str, int] = {}
    try:
        _check_database_name(config.database)
        env = server_env(_database_url(config.database))
        export_dir = _fresh_dir(config.log_dir / "soak-exports")
        env["EXPORT_LOCAL_DIR"] = str(export_dir)
        out.write(f"Preparing {config.database} (dropped and created afresh, migrated)…\n")
        out.flush()
        _recreate_database(config.database)
        with (config.log_dir / "soak-setup.log").open("w") as setup_log:
            _manage(["migrate", "--noinput"], env, setup_log)
            _manage(["createcachetable"], env, setup_log)  # a no-op unless a database cache is set
            # Events spread over the last hour: last month's partition too, early in a month.
            _manage(["ensure_partitions", "--months-back", "1"], env, setup_log)
        with _using_database(config.database):
            seed = _seed()
            connection.close()  # idle during the run: no connection held against the servers
            out.write(
                f"Starting gunicorn ({config.workers} workers) and {config.db_workers} db_workers; then "
                f"{config.concurrency} clients for {config.duration:g} s or {config.requests:,} requests…\n"
            )
            out.flush()
            with _servers(env, config, exits) as servers:
                _enqueue_export_runs(seed.export_job_id)
                connection.close()
                clients, elapsed = _workload(servers.port, seed, config, out)
                left = _drain(servers, out)
                counted = _events_counted_by_metrics(servers.port, seed.organization_id)
                failures.extend(servers.deaths())
            acked = set().union(*(c.tally.acked for c in clients))
            refused = set().union(*(c.tally.refused for c in clients))
            unanswered = set().union(*(c.tally.unanswered for c in clients)) - acked
            verification = verify(seed.organization_id, acked, refused, unanswered)
            background = verify_background(seed, config, export_dir)
            from audit.models import Event

            recorded_by_servers = (
                Event.objects.filter(organization_id=seed.organization_id).count() - seed.events_before
            )
            connection.close()
        figures = endpoint_figures(clients, elapsed)
        _print_figures(figures, elapsed, out)
        total = sum(f["requests"] for f in figures.values())
        batches: Counter[str] = Counter()
        for c in clients:
            batches.update(c.tally.batches)
        mismatches = [m for c in clients for m in c.tally.mismatches]
        summary["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
        summary |= {
            "elapsed_s": round(elapsed, 1),
            "requests": total,
            "requests_per_s": round(total / elapsed, 1) if elapsed else 0.0,
            "endpoints": figures,
            "ingestion": {
                "batches": dict(batches),
                "events_acknowledged": len(acked),
                "acknowledgement_mismatches": mismatches[:20],
            },
            "verification": verification,
            "background": background
            | {
                "left_after_drain": left,
                "events_recorded_by_servers": recorded_by_servers,
                "events_in_metrics": counted,
            },
            "unexpected_examples": [line for c in clients for line in c.tally.unexpected][:20],
        }
        out.write(
            f"\nIngestion: {sum(batches.values()):,} batches "
            f"({', '.join(f'{n:,} {kind}' for kind, n in batches.most_common())}); "
            f"{len(acked):,} distinct events acknowledged.\n"
            f"Stored: {verification['stored_of_acknowledged']:,} of {len(acked):,} acknowledged, "
            f"{verification['lost']} lost, {verification['duplicated_ids']} stored more than once, "
            f"{verification['refused_but_stored']} of {len(refused):,} refused stored anyway.\n"
        )
        server_errors = sum(f["server_errors"] for f in figures.values())
        for count, what in (
            (verification["lost"], "acknowledged event(s) lost"),
            (verification["duplicated_ids"], "event id(s) stored more than once"),
            (verification["refused_but_stored"], "event(s) of refused batches stored"),
            (server_errors, "5xx answer(s)"),
            (sum(f["transport_errors"] for f in figures.values()), "transport error(s)"),
            (sum(f["unexpected"] for f in figures.values()), "unexpected answer(s)"),
            (len(mismatches), "acknowledgement(s) whose `created` disagrees with the ids sent"),
        ):
            if count:
                failures.append(f"{count} {what}")
        if not acked:
            failures.append("no event was acknowledged: the workload did not run")
        out.write(
            f"Background: {background['alerts']:,} alerts ({background['alerts_fired_twice']} fired twice, "
            f"{background['alerts_missed']} missed, {background['alert_emails_sent_twice']} e-mailed twice), "
            f"{background['export_days']} of {EXPORT_DAYS} export days written once, "
            f"{background['failed_tasks']} failed tasks; /metrics counted {counted} events of the "
            f"{recorded_by_servers:,} the servers recorded.\n"
        )
        for count, what in (
            (background["alerts_fired_twice"], "alert(s) fired twice"),
            (background["alerts_missed"], "matching event(s) that fired no alert"),
            (background["alert_emails_sent_twice"], "alert e-mail(s) sent twice"),
            (background["alerts_not_emailed"], "alert(s) not e-mailed"),
            (len(background["export_days_wrong"]), "export day(s) missing or not whole"),
            (abs(EXPORT_DAYS - background["export_days"]), "export day(s) not written"),
            (background["failed_tasks"], "failed task(s)"),
            (max(left, 0), "task(s)/e-mail(s) still queued after the drain"),
        ):
            if count:
                failures.append(f"{count} {what}")
        if counted != recorded_by_servers:
            failures.append(
                f"/metrics counted {counted} events for the organization, the servers recorded {recorded_by_servers}"
            )
    except SoakError as error:
        failures.append(str(error))
    finally:
        summary["process_exits"] = exits
        failures.extend(
            f"{name} exited with {code} when stopped (SIGTERM, then SIGKILL after {STOP_TIMEOUT:g} s)"
            for name, code in exits.items()
            if code != 0
        )
        # Only this run's logs: a run that stopped before starting the servers has none.
        tracebacks = {
            name: _tracebacks(config.log_dir / f"soak-{name}.log") if exits else []
            for name in ("gunicorn", *worker_log_names(config))
        }
        summary["tracebacks"] = {name: found[:10] for name, found in tracebacks.items()}
        for name, found in tracebacks.items():
            if found:
                failures.append(f"{len(found)} traceback(s) in soak-{name}.log, first: {found[0]}")
        summary["ok"] = not failures
        summary["logs"] = str(config.log_dir)
        config.json_path.parent.mkdir(parents=True, exist_ok=True)
        config.json_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    out.write(f"Summary written to {config.json_path}; logs in {config.log_dir}.\n")
    return summary
