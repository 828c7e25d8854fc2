"""Database faults answer 503 + Retry-After, never 500, and never hang a worker.

The faults are real: the test database made read-only with ALTER DATABASE (as after a
failover), a lock held on the events table by another connection, and requests over HTTP to a
live server, whose request threads open connections of their own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator

import psycopg
import psycopg.errors
import pytest
import requests
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, connections
from django.test import Client

from api.faults import database_fault
from audit.models import Event
from iam.models import APIKey, Application, Organization
from tests.api.conftest import api_key_for, make_events, wire_event
from tests.factories import ApplicationFactory, grant

POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL faults: read-only, locks, timeouts")
EVENTS = "/audit-trail/v1alpha1/regions/fr-par/events"
INGEST = "/x/audit-trail/v1/events"
KEYS = "/iam/v1alpha1/api-keys"
CONSOLE_EVENTS = "/audit-trail/events/"


# --- the faults -----------------------------------------------------------------------------------


def _server(**kwargs) -> psycopg.Connection:
    """A connection of its own to the server, as another process would hold."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        **kwargs,
    )


@contextlib.contextmanager
def _options(**options: str | int) -> Iterator[None]:
    """New connections of the app (test thread and live server alike) use these server options.

    settings.py builds them from DB_LOCK_TIMEOUT_MS and DB_STATEMENT_TIMEOUT_MS at start-up;
    tests/test_settings.py checks that wiring in a subprocess.
    """
    settings = connection.settings_dict.setdefault("OPTIONS", {})
    saved = settings.get("options")
    connections.close_all()
    settings["options"] = " ".join(f"-c {name}={value}" for name, value in options.items())
    try:
        yield
    finally:
        connections.close_all()
        settings["options"] = saved


def _set_read_only(on: bool) -> None:
    name = connection.settings_dict["NAME"]
    with _server(dbname="postgres", autocommit=True) as server:
        if on:
            server.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        else:
            server.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    connections.close_all()  # open connections keep their setting: reconnect, as after a failover


@pytest.fixture
def read_only(transactional_db) -> Iterator[Callable[[bool], None]]:
    """`read_only(True)` makes the database read-only, `read_only(False)` writable again."""
    try:
        yield _set_read_only
    finally:
        _set_read_only(False)


@pytest.fixture
def lock_events(transactional_db) -> Iterator[Callable[[], None]]:
    """Another connection takes ACCESS EXCLUSIVE on audit_event; call the value to release it.

    The app's lock timeout is 300 ms here, instead of the default 5 s, to keep the suite quick.
    """
    with (
        _server(dbname=connection.settings_dict["NAME"]) as holder,
        _options(jit="off", lock_timeout=300, statement_timeout=30_000),
    ):
        holder.execute("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE")
        yield holder.rollback
        holder.rollback()


# --- who calls ------------------------------------------------------------------------------------


@pytest.fixture
def keys(owner, acme, member_without_rights, auditor) -> dict[str, str]:
    writer = ApplicationFactory(organization=acme, name="log-shipper")
    grant(writer, acme, "AuditTrailEventsWriter")
    make_events(acme, 3)
    return {
        "owner": api_key_for(owner, acme)[1],
        "member": api_key_for(member_without_rights, acme)[1],
        "auditor": api_key_for(auditor, acme)[1],
        "writer": api_key_for(writer, acme)[1],
    }


def _api(live_server, method: str, path: str, secret: str, body=None) -> requests.Response:
    return requests.request(
        method,
        live_server.url + path,
        headers={"X-Auth-Token": secret, "Content-Type": "application/json"},
        data=json.dumps(body if body is not None else {}),
        timeout=30,
    )


def _ingest(live_server, keys) -> requests.Response:
    batch = [wire_event(Organization.objects.get(name="Acme")) for _ in range(3)]
    return _api(live_server, "POST", INGEST, keys["writer"], {"events": batch})


def _browser(live_server, user) -> requests.Session:
    """A signed-in browser against the live server, with its CSRF token. Sign in before a fault."""
    client = Client()
    client.force_login(user)
    browser = requests.Session()
    browser.cookies.set("sessionid", client.cookies["sessionid"].value)
    browser.get(live_server.url + "/login/", timeout=30)  # sets the csrftoken cookie
    browser.headers["X-CSRFToken"] = browser.cookies.get("csrftoken", "")
    return browser


def _json_503(response: requests.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    retry_after = int(response.headers["Retry-After"])
    assert retry_after > 0
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["type"] == "service_unavailable"
    assert body["retry_after"] == retry_after
    assert reason in body["message"]


def _html_503(response, explanation: str) -> None:
    assert response.status_code == 503
    headers = response.headers
    assert int(headers["Retry-After"]) > 0
    assert headers["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "temporarily unavailable" in page and explanation in page


@pytest.fixture
def logs(caplog):
    """After the test: one line per fault, and no traceback nor error anywhere."""
    caplog.set_level(logging.INFO)
    yield caplog
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert all("\n" not in r.getMessage() for r in caplog.records if r.name == "api.faults")


# --- read-only ------------------------------------------------------------------------------------


@postgres_only
def test_with_the_database_read_only_api_writes_and_ingestion_answer_503_json_until_it_clears(
    keys, owner, live_server, read_only, logs
):
    mine = {"user_id": str(owner.pk), "description": "ci"}
    read_only(True)
    _json_503(_api(live_server, "POST", KEYS, keys["owner"], mine), "read_only")
    _json_503(_ingest(live_server, keys), "read_only")
    # Reads write nothing: they keep working.
    listed = _api(live_server, "GET", EVENTS, keys["auditor"])
    assert listed.status_code == 200
    assert len(listed.json()["events"]) >= 3
    lines = [r.getMessage() for r in logs.records if r.name == "api.faults"]
    assert [line.split(":")[0] for line in lines] == [f"503 POST {KEYS}", f"503 POST {INGEST}"]
    assert all("database read_only (cannot execute" in line for line in lines)

    read_only(False)  # the fault clears
    assert _api(live_server, "POST", KEYS, keys["owner"], mine).status_code == 200
    assert _ingest(live_server, keys).json()["created"] == 3
    assert APIKey.objects.filter(description="ci").count() == 1


@postgres_only
def test_with_the_database_read_only_a_refused_api_call_answers_503_as_its_refusal_cannot_be_recorded(
    keys, live_server, read_only, logs
):
    read_only(True)
    _json_503(_api(live_server, "GET", EVENTS, keys["member"]), "read_only")
    _json_503(_api(live_server, "POST", INGEST, keys["auditor"], {"events": []}), "read_only")
    read_only(False)
    refused = _api(live_server, "GET", EVENTS, keys["member"])
    assert refused.status_code == 403
    assert Event.objects.filter(status_code=403, method_name="ListEvents").count() == 1


@postgres_only
def test_with_the_database_read_only_console_actions_answer_a_503_page(
    owner, member_without_rights, acme, live_server, read_only, logs
):
    owner_browser = _browser(live_server, owner)
    member_browser = _browser(live_server, member_without_rights)
    read_only(True)  # after signing in: the sessions are stored
    url = live_server.url
    created = owner_browser.post(f"{url}/iam/applications/create/", {"name": "bot"}, timeout=30)
    _html_503(created, "read-only")
    # The view succeeds, the session save in the middleware fails: handler500's door.
    switched = owner_browser.post(f"{url}/organization/switch/", {"organization": str(acme.pk)}, timeout=30)
    _html_503(switched, "read-only")
    # A refused page: its refusal cannot be recorded.
    _html_503(member_browser.get(f"{url}{CONSOLE_EVENTS}", timeout=30), "read-only")
    # Signing in writes the sign-in event and the session.
    anonymous = requests.Session()
    anonymous.get(f"{url}/login/", timeout=30)
    signed_in = anonymous.post(
        f"{url}/login/",
        {"username": owner.email, "password": "x" * 12},
        headers={"X-CSRFToken": anonymous.cookies.get("csrftoken", "")},
        timeout=30,
    )
    _html_503(signed_in, "read-only")
    # The events page reads only: it still works for the owner.
    assert owner_browser.get(f"{url}{CONSOLE_EVENTS}", timeout=30).status_code == 200

    read_only(False)
    assert owner_browser.post(f"{url}/iam/applications/create/", {"name": "bot"}, timeout=30).ok
    assert Application.objects.filter(name="bot").count() == 1
    assert member_browser.get(f"{url}{CONSOLE_EVENTS}", timeout=30).status_code == 403


# --- a lock on the events table -------------------------------------------------------------------


@postgres_only
def test_with_the_events_table_locked_reads_and_ingestion_answer_503_within_the_lock_timeout(
    keys, auditor, live_server, lock_events, logs
):
    browser = _browser(live_server, auditor)
    for call in (
        lambda: _api(live_server, "GET", EVENTS, keys["auditor"]),
        lambda: _ingest(live_server, keys),
    ):
        started = time.monotonic()
        _json_503(call(), "lock_timeout")
        assert time.monotonic() - started < 5  # the lock is held for as long as the test runs
    page = browser.get(live_server.url + CONSOLE_EVENTS, timeout=30)
    _html_503(page, "busy")
    assert int(page.headers["Retry-After"]) <= 5

    lock_events()  # released
    assert _api(live_server, "GET", EVENTS, keys["auditor"]).status_code == 200
    assert _ingest(live_server, keys).json()["created"] == 3
    assert browser.get(live_server.url + CONSOLE_EVENTS, timeout=30).status_code == 200


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_past_the_statement_timeout_answers_503_instead_of_holding_the_worker(
    keys, live_server, logs
):
    with (
        _server(dbname=connection.settings_dict["NAME"]) as holder,
        _options(lock_timeout=0, statement_timeout=400),  # wait for locks forever, but not longer than 400 ms
    ):
        holder.execute("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        _json_503(_api(live_server, "GET", EVENTS, keys["auditor"]), "statement_timeout")
        assert time.monotonic() - started < 5
        holder.rollback()
        assert _api(live_server, "GET", EVENTS, keys["auditor"]).status_code == 200


@postgres_only
def test_the_test_client_sees_a_503_not_an_exception_when_a_view_hits_a_locked_table(
    auditor_client, lock_events, logs
):
    # process_exception answers: Django never sees an unhandled exception.
    _html_503(auditor_client.get(CONSOLE_EVENTS), "busy")


# --- the classification ---------------------------------------------------------------------------


def _wrapped(error: Exception, wrapper: type[Exception] = OperationalError) -> Exception:
    """What Django raises: its own class, the driver's error as the cause."""
    try:
        raise wrapper(str(error)) from error
    except wrapper as raised:
        return raised


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_wrapped(psycopg.errors.ReadOnlySqlTransaction("read-only"), DatabaseError), "read_only"),
        (_wrapped(psycopg.errors.LockNotAvailable("lock timeout")), "lock_timeout"),
        (_wrapped(psycopg.errors.QueryCanceled("statement timeout")), "statement_timeout"),
        (_wrapped(psycopg.errors.DeadlockDetected("deadlock")), "conflict"),
        (_wrapped(psycopg.errors.SerializationFailure("serialize")), "conflict"),
        (_wrapped(psycopg.errors.AdminShutdown("terminating")), "connection"),
        (_wrapped(psycopg.errors.CannotConnectNow("starting up")), "connection"),
        (_wrapped(psycopg.errors.TooManyConnections("too many")), "overloaded"),
        (_wrapped(psycopg.errors.DiskFull("disk full")), "overloaded"),
        (_wrapped(psycopg.OperationalError("connection refused")), "connection"),
        (_wrapped(psycopg.errors.ConnectionFailure("lost")), "connection"),
        (InterfaceError("connection already closed"), "connection"),
        (_wrapped(sqlite3.OperationalError("database is locked")), "lock_timeout"),
        (_wrapped(sqlite3.OperationalError("attempt to write a readonly database")), "read_only"),
    ],
)
def test_availability_faults_are_recognised_by_their_sqlstate_or_message(error, reason):
    fault = database_fault(error)
    assert fault is not None
    assert fault.reason == reason
    assert fault.retry_after > 0


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(psycopg.errors.UniqueViolation("duplicate key"), IntegrityError),
        _wrapped(psycopg.errors.InsufficientPrivilege("audit_event is append-only"), DatabaseError),
        _wrapped(psycopg.errors.UndefinedTable("no such relation"), DatabaseError),
        _wrapped(psycopg.errors.InvalidAuthorizationSpecification("role does not exist")),
        _wrapped(sqlite3.OperationalError("no such table: audit_event")),
        ValueError("not a database error"),
    ],
)
def test_other_errors_are_not_availability_faults_and_stay_500s(error):
    assert database_fault(error) is None


@pytest.mark.skipif(POSTGRES, reason="SQLite-only: a write lock held by another connection")
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_a_write_lock_held_elsewhere_answers_503_json(writer_key_secret, logs):
    path = connection.settings_dict["NAME"]
    settings = connection.settings_dict["OPTIONS"]
    saved = settings["timeout"]
    connections.close_all()
    settings["timeout"] = 0.2
    holder = sqlite3.connect(path)
    try:
        holder.execute("BEGIN IMMEDIATE")
        response = Client(HTTP_X_AUTH_TOKEN=writer_key_secret).post(
            INGEST,
            json.dumps({"events": [wire_event(Organization.objects.get(name="Acme"))]}),
            content_type="application/json",
        )
        holder.rollback()
    finally:
        holder.close()
        connections.close_all()
        settings["timeout"] = saved
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["type"] == "service_unavailable"


@pytest.fixture
def writer_key_secret(acme) -> str:
    writer = ApplicationFactory(organization=acme, name="log-shipper")
    grant(writer, acme, "AuditTrailEventsWriter")
    return api_key_for(writer, acme)[1]
