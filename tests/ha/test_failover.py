"""A failover under load: `pg_autoctl perform failover` while a producer ingests, a signed-in
user reads the console, and a task worker runs, all real processes on loopback (gunicorn and
`manage.py db_worker` with DATABASE_URL naming both nodes, `target_session_attrs=read-write`).

Every batch the API acknowledged is stored exactly once; a request caught by the switch answers
503 with Retry-After; the console answers again within 15 s; the worker, never restarted, runs a
task enqueued after the failover, and no task is lost or marked failed because of it."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.db import connections
from django.tasks import TaskResultStatus
from django.test import Client
from django_tasks_db.models import DBTaskResult

from alerts.models import Alert, AlertRuleSetting
from audit.models import Event
from audit.services import Actor
from iam.services import api_key_create
from tests.api.conftest import wire_event
from tests.factories import ApplicationFactory, OrganizationFactory, UserFactory, grant
from tests.ha.conftest import ROOT, server_env

pytestmark = pytest.mark.ha

INGEST = "/x/audit-trail/v1/events"
EVENTS_PAGE = "/audit-trail/events/?range=24h"
BATCH = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer at all (refused, reset)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    at: float = 0.0


def call(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
    at = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(), at)
    except OSError:
        return Answer(None, at=at)
    finally:
        conn.close()


def start(args: list[str], env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def deployment(on_cluster, tmp_path):
    """An organization with a log shipper's key, an owner signed in, the ApiKeyCreated alert on;
    gunicorn (two workers) and one db_worker on the cluster."""
    owner = UserFactory()
    organization = OrganizationFactory(owner=owner)
    shipper = ApplicationFactory(organization=organization, name="log-shipper")
    grant(shipper, organization, "AuditTrailEventsWriter")
    _, secret = api_key_create(actor=Actor.system(), organization=organization, application=shipper)
    AlertRuleSetting.objects.create(
        organization=organization, region="fr-par", rule_name="ApiKeyCreated", enabled=True
    )
    browser = Client()
    browser.force_login(owner)  # the session lives in the cluster's database, as the server's do
    session = browser.cookies["sessionid"].value

    port = free_port()
    env = server_env(on_cluster, EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend")
    bin_dir = f"{sys.executable.rsplit('/', 1)[0]}"
    log = open(tmp_path / "processes.log", "ab")  # noqa: SIM115  # closed below
    web = start(
        [f"{bin_dir}/gunicorn", "config.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "60"],
        env,
        log,
    )
    worker = start([sys.executable, "manage.py", "db_worker", "--interval", "0.2"], env, log)
    try:
        deadline = time.monotonic() + 60
        while call(port, "GET", "/health/").status != 200:
            assert web.poll() is None and time.monotonic() < deadline, (
                tmp_path / "processes.log"
            ).read_text()
            time.sleep(0.2)
        yield {
            "port": port,
            "secret": secret,
            "session": session,
            "organization": organization,
            "web": web,
            "worker": worker,
            "log": tmp_path / "processes.log",
        }
    finally:
        stop(web, signal.SIGINT)
        stop(worker, signal.SIGTERM)
        log.close()


def ingest(d, events) -> Answer:
    body = json.dumps({"events": events}).encode()
    headers = {"X-Auth-Token": d["secret"], "Content-Type": "application/json"}
    return call(d["port"], "POST", INGEST, body, headers)


def test_a_failover_under_load_loses_nothing_and_everything_goes_on(on_cluster, deployment):
    d = deployment
    organization = d["organization"]
    stopping = threading.Event()
    acknowledged: list[str] = []
    batches: list[list[dict]] = []
    refusals: list[Answer] = []  # every answer that was not a 200
    console: list[Answer] = []

    def producer() -> None:
        """Batch after batch; a batch not acknowledged is sent again, as a producer would."""
        while not stopping.is_set():
            batch = [wire_event(organization) for _ in range(BATCH)]
            for _ in range(200):
                answer = ingest(d, batch)
                if answer.status == 200:
                    acknowledged.extend(e["id"] for e in batch)
                    batches.append(batch)
                    break
                refusals.append(answer)
                time.sleep(0.2)

    def reader() -> None:
        while not stopping.is_set():
            console.append(
                call(d["port"], "GET", EVENTS_PAGE, headers={"Cookie": f"sessionid={d['session']}"})
            )
            time.sleep(0.1)

    threads = [threading.Thread(target=producer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 5 * BATCH:  # under way
            assert time.monotonic() < deadline, d["log"].read_text()[-3000:]
            time.sleep(0.1)
        old_primary = on_cluster.primary_port
        began = time.monotonic()
        took = on_cluster.failover()
        assert on_cluster.primary_port != old_primary
        # Load goes on a few seconds on the new primary.
        settled = len(acknowledged)
        deadline = time.monotonic() + 30
        while len(acknowledged) < settled + 5 * BATCH:
            assert time.monotonic() < deadline, (
                f"ingestion did not resume: {Counter(a.status for a in refusals)}"
            )
            time.sleep(0.1)
    finally:
        stopping.set()
        for thread in threads:
            thread.join(timeout=60)
    print(
        f"\nfailover took {took:.1f} s; {len(acknowledged)} events acknowledged; refusals {Counter(a.status for a in refusals)}"
    )

    # Caught mid-failover: 503 with Retry-After, the API's JSON error; never a 500 or a reset.
    for answer in refusals:
        assert answer.status == 503, (answer.status, answer.body[:300])
        assert int(answer.headers["retry-after"]) > 0
        assert json.loads(answer.body)["type"] == "service_unavailable"
    for answer in console:
        assert answer.status in (200, 503), (answer.status, answer.body[:300])
        if answer.status == 503:
            assert int(answer.headers["retry-after"]) > 0
    # The console answers again within 15 s of the failover's start, and stays up.
    failing = [a.at for a in console if a.status != 200 and a.at >= began]
    recovered = min(
        (a.at for a in console if a.status == 200 and a.at > max(failing, default=began)), default=None
    )
    assert recovered is not None and recovered - began < 15, (failing, recovered)
    assert console[-1].status == 200

    # Every acknowledged event is stored, and once (retried batches included).
    connections["default"].close()  # its primary is a standby now: reconnect (read-write)
    stored = Counter(
        str(row["id"])
        for row in Event.objects.filter(
            organization_id=organization.pk, product_name="secret-manager"
        ).values("id")
    )
    assert set(acknowledged) <= set(stored)
    assert max(stored.values()) == 1
    again = ingest(d, batches[0])  # a producer that missed the answer sends a batch again
    assert json.loads(again.body) == {"received": BATCH, "created": 0, "duplicates": BATCH}

    # The worker, never restarted, runs a task enqueued after the failover: the alert fires.
    api_key_created = wire_event(
        organization,
        product_name="iam",
        service_name="scaleway.iam.v1alpha1.Api",
        method_name="CreateAPIKey",
        resources=[{"id": "SCWAFTERFAILOVER0", "type": "iam_api_key"}],
    )
    assert ingest(d, [api_key_created]).status == 200
    deadline = time.monotonic() + 60
    while not Alert.objects.filter(
        organization=organization, trigger_event_id=api_key_created["id"]
    ).exists():
        assert time.monotonic() < deadline, d["log"].read_text()[-3000:]
        time.sleep(0.5)
    assert d["worker"].poll() is None
    # And no task was lost or failed to the failover: each one ran, once.
    deadline = time.monotonic() + 60
    while DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).exists():
        statuses = Counter(DBTaskResult.objects.values_list("status", flat=True))
        assert TaskResultStatus.FAILED not in statuses, DBTaskResult.objects.filter(status="FAILED").values()[
            :3
        ]
        assert time.monotonic() < deadline, list(
            DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).values(
                "task_path", "status", "worker_ids", "started_at"
            )
        )
        time.sleep(0.5)
    assert d["web"].poll() is None
