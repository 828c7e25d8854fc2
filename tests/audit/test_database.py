"""The role model: the owner migrates; the runtime role the app runs as can only append events.

Every refusal is checked as the role that would attempt it, over its own connection.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.database import APPEND_ONLY_TABLES, runtime_role_check
from audit.models import AppendOnlyModel, AuthenticationEvent, Event
from audit.partitions import _add_months, ensure_partitions, partition_name
from audit.services import Actor, build_event, record, record_many
from tests.api.conftest import ApiClient, api_key_for, wire_event
from tests.factories import ApplicationFactory, grant

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL-only: roles, TRUNCATE, partitions")
PASSWORD = "runtime-role-test-password"


def _this_month():
    return timezone.now().date().replace(day=1)


def _event(**overrides) -> Event:
    fields = {
        "organization_id": uuid.uuid4(),
        "actor": Actor.system(),
        "product_name": "instance",
        "service_name": "scaleway.instance.v1.Api",
        "method_name": "ServerAction",
        "locality": "fr-par-1",
    }
    return build_event(**(fields | overrides))


def _role_name() -> str:
    # Roles are cluster-wide: one per test database, so parallel suites never share one.
    return f"{connection.settings_dict['NAME']}_runtime"[:63]


def _drop_role(cursor, role: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone():
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def runtime_role(transactional_db, tmp_path):
    """The runtime role, created in the test database by the command, as an operator would."""
    role = _role_name()
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    call_command("create_runtime_role", "--role", role, "--password-file", str(secret), stdout=StringIO())
    yield role
    with connection.cursor() as cursor:
        _drop_role(cursor, role)


def _connect(role: str) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=role,
        password=PASSWORD,
        autocommit=True,
    )


@pytest.fixture
def as_runtime(runtime_role):
    """A psycopg connection as the runtime role."""
    with _connect(runtime_role) as conn:
        yield conn


@pytest.fixture
def app_as_runtime(runtime_role):
    """Django itself (the ORM, the test client) connected as the runtime role."""
    settings = connection.settings_dict
    saved = settings["USER"], settings["PASSWORD"]
    connection.close()
    settings["USER"], settings["PASSWORD"] = runtime_role, PASSWORD
    try:
        yield runtime_role
    finally:
        connection.close()
        settings["USER"], settings["PASSWORD"] = saved


def _refused(conn: psycopg.Connection, sql: str) -> str:
    """The error `sql` raises; fails the test when it succeeds."""
    with pytest.raises(psycopg.Error) as error:
        conn.execute(sql)
    return str(error.value)


def _partitions() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'audit_event'::regclass "
            "ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


# --- as the runtime role ------------------------------------------------------------------------


@postgres_only
def test_the_runtime_role_cannot_truncate_the_events_table_or_any_partition(as_runtime):
    record_many([_event()])
    for table in ["audit_event", *_partitions(), "audit_authenticationevent"]:
        assert "permission denied" in _refused(as_runtime, f"TRUNCATE {table}")
    assert Event.objects.count() == 1


@postgres_only
def test_the_runtime_role_cannot_drop_or_detach_a_partition(as_runtime):
    partition = partition_name(_this_month())
    assert "must be owner" in _refused(as_runtime, f"DROP TABLE {partition}")
    assert "must be owner" in _refused(as_runtime, f"ALTER TABLE audit_event DETACH PARTITION {partition}")
    assert "must be owner" in _refused(as_runtime, "DROP TABLE audit_event")
    assert partition in _partitions()


@postgres_only
def test_the_runtime_role_cannot_disable_the_append_only_triggers(as_runtime):
    event = _event()
    record_many([event])
    for table in ("audit_event", partition_name(_this_month()), "audit_authenticationevent"):
        assert "must be owner" in _refused(as_runtime, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    assert "permission denied" in _refused(as_runtime, "DELETE FROM audit_event")
    assert Event.objects.filter(pk=event.pk).exists()


@postgres_only
def test_the_runtime_role_cannot_update_or_delete_events_through_the_table_or_a_partition(as_runtime):
    event = _event()
    record_many([event])
    for table in ("audit_event", partition_name(_this_month()), "audit_event_default"):
        assert "permission denied" in _refused(as_runtime, f"UPDATE {table} SET status_code = 403")
        assert "permission denied" in _refused(as_runtime, f"DELETE FROM {table}")
    assert "permission denied" in _refused(as_runtime, "UPDATE audit_authenticationevent SET email = ''")
    assert "permission denied" in _refused(as_runtime, "DELETE FROM audit_authenticationevent")
    assert Event.objects.get(pk=event.pk).status_code == 200


@postgres_only
def test_the_runtime_role_can_insert_and_select_events(as_runtime):
    event = _event()
    record_many([event])
    row = as_runtime.execute("SELECT method_name FROM audit_event WHERE id = %s", [event.pk]).fetchone()
    assert row == ("ServerAction",)
    as_runtime.execute(
        "INSERT INTO audit_event (id, recorded_at, organization_id, locality, region, principal_type, "
        "principal_name, user_agent, product_name, service_name, method_name, resources, request_id, "
        "request_body, status_code) VALUES (gen_random_uuid(), now(), gen_random_uuid(), 'fr-par', 'fr-par', "
        "'system', 'Scaleway', '', 'iam', 'scaleway.iam.v1alpha1.Api', 'ListLogs', '[]', '', '{}', 200)"
    )
    assert Event.objects.filter(method_name="ListLogs").count() == 1


@postgres_only
def test_the_runtime_role_owns_nothing_and_is_no_superuser(as_runtime, runtime_role):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            [runtime_role],
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin FROM pg_roles "
            "WHERE rolname = %s",
            [runtime_role],
        )
        assert cursor.fetchone() == (False, False, False, False, True)
    assert "permission denied" in _refused(as_runtime, "CREATE TABLE mine (id int)")


@postgres_only
def test_a_partition_made_later_is_as_closed_to_the_runtime_role_as_the_others(as_runtime):
    later = _add_months(_this_month(), 30)
    assert ensure_partitions(0, today=later) == [partition_name(later)]
    at = timezone.make_aware(timezone.datetime.combine(later, timezone.datetime.min.time()))
    event = _event(recorded_at=at + timedelta(days=3))
    record_many([event])
    for sql in ("TRUNCATE {}", "DELETE FROM {}", "UPDATE {} SET status_code = 403", "SELECT * FROM {}"):
        assert "permission denied" in _refused(as_runtime, sql.format(partition_name(later)))
    assert "must be owner" in _refused(as_runtime, f"DROP TABLE {partition_name(later)}")
    # Through the parent, as the application reads and writes, the new month works.
    assert as_runtime.execute("SELECT count(*) FROM audit_event WHERE id = %s", [event.pk]).fetchone() == (1,)


@postgres_only
def test_a_table_a_later_migration_adds_is_open_to_the_runtime_role_by_default_privileges(as_runtime):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE audit_later (id bigint GENERATED BY DEFAULT AS IDENTITY, note text)")
    try:
        as_runtime.execute("INSERT INTO audit_later (note) VALUES ('a')")
        as_runtime.execute("UPDATE audit_later SET note = 'b'")
        assert as_runtime.execute("SELECT note FROM audit_later").fetchone() == ("b",)
        as_runtime.execute("DELETE FROM audit_later")
        assert "must be owner" in _refused(as_runtime, "DROP TABLE audit_later")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE audit_later")


@postgres_only
def test_the_app_records_ingests_and_reads_events_through_the_runtime_role(app_as_runtime, owner, acme):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == app_as_runtime
    # The ORM: one event through the door, read back; other tables are read and written freely.
    event = record(organization_id=acme.pk, actor=Actor.of(owner), **_fields())
    assert Event.objects.get(pk=event.pk).method_name == "ServerAction"
    writer = ApplicationFactory(organization=acme, name="log-shipper")
    grant(writer, acme, "AuditTrailEventsWriter", "AuditTrailReadOnly")
    _, secret = api_key_for(writer, acme)
    # Ingestion (COPY through a temporary table) and the API.
    batch = [wire_event(acme) for _ in range(3)]
    api = ApiClient(secret)
    response = api.post("/x/audit-trail/v1/events", {"events": batch}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 3
    listed = api.get("/audit-trail/v1alpha1/regions/fr-par/events", {"method_name": batch[0]["method_name"]})
    assert listed.status_code == 200
    assert {e["id"] for e in listed.json()["events"]} >= {batch[0]["id"]}
    # The sign-in trail takes its appends; a change to a stored event is refused by the database.
    AuthenticationEvent.objects.create(email="someone@acme.test", result="failure")
    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_event SET status_code = 403")


def _fields() -> dict:
    return {
        "product_name": "instance",
        "service_name": "scaleway.instance.v1.Api",
        "method_name": "ServerAction",
        "locality": "fr-par-1",
    }


# --- the command ---------------------------------------------------------------------------------


@postgres_only
def test_create_runtime_role_is_idempotent(runtime_role):
    out = StringIO()
    call_command("create_runtime_role", "--role", runtime_role, stdout=out)
    assert f"Updated role {runtime_role}" in out.getvalue()
    with _connect(runtime_role) as conn:  # the password set the first time still holds
        assert "permission denied" in _refused(conn, "TRUNCATE audit_event")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_create_runtime_role_refuses_a_superuser_or_a_role_that_owns_tables():
    with pytest.raises(CommandError, match="superuser"):
        call_command("create_runtime_role", "--role", "postgres", stdout=StringIO())
    role = _role_name()
    with connection.cursor() as cursor:
        _drop_role(cursor, role)
        cursor.execute(f'CREATE ROLE "{role}"')
        cursor.execute(f'CREATE TABLE owned_by_it (id int); ALTER TABLE owned_by_it OWNER TO "{role}"')
    try:
        with pytest.raises(CommandError, match="owns owned_by_it"):
            call_command("create_runtime_role", "--role", role, stdout=StringIO())
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE owned_by_it")
            _drop_role(cursor, role)


@pytest.mark.parametrize("name", ["Robert'); DROP TABLE audit_event;--", "UPPER", "", "a" * 64])
@pytest.mark.django_db
def test_create_runtime_role_refuses_a_name_that_is_not_a_plain_identifier(name):
    with pytest.raises(CommandError):
        call_command("create_runtime_role", "--role", name, stdout=StringIO())


@pytest.mark.skipif(POSTGRES, reason="SQLite-only")
@pytest.mark.django_db
def test_create_runtime_role_explains_that_sqlite_has_no_roles():
    with pytest.raises(CommandError, match="PostgreSQL only"):
        call_command("create_runtime_role", stdout=StringIO())


# --- the system check ----------------------------------------------------------------------------


@postgres_only
@pytest.mark.django_db
def test_the_check_warns_when_the_app_connects_as_the_owner_of_the_events_table():
    warnings = runtime_role_check()
    assert [w.id for w in warnings] == ["audit.W001"]
    assert "audit_event" in warnings[0].msg and "create_runtime_role" in warnings[0].hint


@postgres_only
def test_the_check_is_silent_when_the_app_connects_as_the_runtime_role(app_as_runtime):
    assert runtime_role_check() == []


@pytest.mark.skipif(POSTGRES, reason="SQLite-only")
@pytest.mark.django_db
def test_the_check_is_silent_on_sqlite():
    assert runtime_role_check() == []


# --- as the owner ---------------------------------------------------------------------------------


@postgres_only
@pytest.mark.django_db
def test_the_owner_cannot_truncate_the_events_table_a_partition_or_the_sign_ins():
    record_many([_event()])
    AuthenticationEvent.objects.create(email="someone@acme.test", result="failure")
    later = _add_months(_this_month(), 40)
    ensure_partitions(0, today=later)
    for table in ["audit_event", *_partitions(), "audit_authenticationevent"]:
        with (
            pytest.raises(DatabaseError, match="append-only \\(TRUNCATE blocked\\)"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table}")
    assert partition_name(later) in _partitions()
    assert Event.objects.count() == 1
    assert AuthenticationEvent.objects.count() == 1


@postgres_only
@pytest.mark.django_db
def test_every_partition_has_the_truncate_guard():
    ensure_partitions(3, months_back=2)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.inhrelid::regclass::text FROM pg_inherits i WHERE i.inhparent = 'audit_event'::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = i.inhrelid "
            "AND t.tgname = 'audit_event_no_truncate')"
        )
        assert cursor.fetchall() == []


def test_every_append_only_model_is_in_the_one_list_of_append_only_tables():
    models = {m._meta.db_table for m in _subclasses(AppendOnlyModel) if not m._meta.abstract}
    assert models <= set(APPEND_ONLY_TABLES)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


# --- the two URLs, end to end ---------------------------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_migrate_and_ensure_partitions_run_as_the_owner_and_the_app_as_the_runtime_role(tmp_path):
    """A fresh database whose owner is no superuser, the documented steps, each a real process."""
    settings = connection.settings_dict
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    name, role, owner = f"{settings['NAME']}_roles"[:63], _role_name(), f"{settings['NAME']}_owner"[:63]
    owner_url = f"postgres://{owner}:{PASSWORD}@{host}:{port}/{name}"
    runtime_url = f"postgres://{role}:{PASSWORD}@{host}:{port}/{name}"
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)

    def manage(*args: str, url: str = runtime_url) -> subprocess.CompletedProcess:
        env = {**os.environ, "DATABASE_URL": url, "DATABASE_OWNER_URL": owner_url}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def clean(server: psycopg.Connection) -> None:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for leftover in (role, owner):
            server.execute(f'DROP ROLE IF EXISTS "{leftover}"')

    with _connect_as(settings["USER"], "postgres") as server:
        clean(server)
        server.execute(f"CREATE ROLE \"{owner}\" LOGIN CREATEROLE PASSWORD '{PASSWORD}'")
        server.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        try:
            migrate = manage("migrate", "--noinput")
            assert migrate.returncode == 0, migrate.stderr
            created = manage("create_runtime_role", "--role", role, "--password-file", str(secret))
            assert created.returncode == 0, created.stderr
            assert manage("migrate", "--noinput").returncode == 0  # again: idempotent, keeps the grants
            later = partition_name(_add_months(_this_month(), 9))
            ensured = manage("ensure_partitions", "--months-ahead", "9")
            assert ensured.returncode == 0, ensured.stderr
            assert later in ensured.stdout
            assert "audit.W001" not in manage("check").stderr
            assert "audit.W001" in manage("check", url=owner_url).stderr
            # The application, as the runtime role: one event through the door, read back.
            script = (
                "from audit.models import Event; from audit.services import Actor, record; import uuid; "
                "e = record(organization_id=uuid.uuid4(), actor=Actor.system(), product_name='iam', "
                "service_name='scaleway.iam.v1alpha1.Api', method_name='ListLogs', locality='global'); "
                "print(Event.objects.get(pk=e.pk).method_name)"
            )
            recorded = manage("shell", "-c", script)
            assert recorded.stdout.strip().splitlines()[-1:] == ["ListLogs"], recorded.stderr
            with psycopg.connect(runtime_url, autocommit=True) as app:
                assert app.execute("SELECT current_user").fetchone() == (role,)
                owners = app.execute(
                    "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE relnamespace = 'public'::regnamespace"
                ).fetchall()
                assert owners == [(owner,)]
                for table in ("audit_event", later):
                    assert "permission denied" in _refused(app, f"TRUNCATE {table}")
                    assert "permission denied" in _refused(app, f"DELETE FROM {table}")
                assert "must be owner" in _refused(app, f"ALTER TABLE audit_event DETACH PARTITION {later}")
                assert app.execute("SELECT method_name FROM audit_event").fetchall() == [("ListLogs",)]
            with psycopg.connect(owner_url, autocommit=True) as maintenance:
                assert "append-only" in _refused(maintenance, f"TRUNCATE {later}")
        finally:
            clean(server)


def _connect_as(user: str, dbname: str) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=dbname,
        user=user,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )
