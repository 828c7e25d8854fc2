"""Events are append-only at three layers: model guards, queryset guards, database triggers."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuthenticationEvent, Event
from audit.partitions import ensure_partitions
from audit.services import Actor, build_event, record, record_many

POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL-only: partitions and the DELETE trigger")


def _event(**overrides) -> Event:
    fields = {
        "organization_id": uuid.uuid4(),
        "actor": Actor(principal_type="user", principal_id=uuid.uuid4(), principal_name="a@acme.test"),
        "product_name": "secret-manager",
        "service_name": "scaleway.secret_manager.v1beta1.Api",
        "method_name": "CreateSecret",
        "locality": "fr-par",
    } | overrides
    return record(**fields)


def _db_id(event: Event) -> object:
    return event.pk if POSTGRES else event.pk.hex  # SQLite stores UUIDs as 32 hex characters


def _raw(sql: str, params: list) -> None:
    # A savepoint, so that the refused statement does not poison the test's transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- layer 1: the model -------------------------------------------------------------------------


@pytest.mark.django_db
def test_saving_an_event_again_after_it_was_created_is_refused():
    event = _event()
    event.method_name = "DeleteSecret"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    assert Event.objects.get(pk=event.pk).method_name == "CreateSecret"


@pytest.mark.django_db
def test_deleting_an_event_is_refused():
    event = _event()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    assert Event.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_authentication_events_are_append_only_too():
    login = AuthenticationEvent.objects.create(email="a@acme.test", result="success")
    login.result = "failure"
    with pytest.raises(TypeError, match="append-only"):
        login.save()
    with pytest.raises(TypeError, match="append-only"):
        login.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuthenticationEvent.objects.all().update(result="failure")


# --- layer 2: the queryset ----------------------------------------------------------------------


@pytest.mark.django_db
def test_queryset_update_is_refused():
    event = _event()
    with pytest.raises(TypeError, match="append-only"):
        Event.objects.filter(pk=event.pk).update(status_code=403)
    assert Event.objects.get(pk=event.pk).status_code == 200


@pytest.mark.django_db
def test_queryset_delete_is_refused():
    event = _event()
    with pytest.raises(TypeError, match="append-only"):
        Event.objects.filter(pk=event.pk).delete()
    with pytest.raises(TypeError, match="append-only"):
        Event.objects.all().delete()
    assert Event.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_bulk_update_is_refused():
    event = _event()
    event.status_code = 403
    with pytest.raises(TypeError, match="append-only"):
        Event.objects.bulk_update([event], ["status_code"])
    assert Event.objects.get(pk=event.pk).status_code == 200


# --- layer 3: the database ----------------------------------------------------------------------


@pytest.mark.django_db
def test_raw_update_is_refused_by_the_database():
    event = _event()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_event SET status_code = 403 WHERE id = %s", [_db_id(event)])
    assert Event.objects.get(pk=event.pk).status_code == 200


@pytest.mark.django_db
def test_the_append_only_trigger_is_present_after_migrate():
    with connection.cursor() as cursor:
        if POSTGRES:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_event'::regclass AND NOT tgisinternal"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_event'"
            )
        triggers = {row[0] for row in cursor.fetchall()}
    expected = (
        {"audit_event_append_only", "audit_event_no_truncate"} if POSTGRES else {"audit_event_no_update"}
    )
    assert triggers == expected


@pytest.mark.skipif(POSTGRES, reason="SQLite-only: its table rebuilds drop triggers")
@pytest.mark.django_db
def test_post_migrate_puts_back_the_sqlite_trigger_that_a_table_rebuild_dropped():
    from audit.partitions import after_migrate

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER audit_event_no_update")
    after_migrate()
    event = _event()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("UPDATE audit_event SET status_code = 403 WHERE id = %s", [_db_id(event)])


@postgres_only
@pytest.mark.django_db
def test_raw_delete_is_refused_by_the_database():
    event = _event()
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_event WHERE id = %s", [event.pk])
    assert Event.objects.filter(pk=event.pk).exists()


@postgres_only
@pytest.mark.django_db
def test_raw_update_and_delete_are_refused_on_every_partition_including_new_ones():
    from datetime import datetime, timedelta

    from django.utils import timezone

    # Partitions made later by ensure_partitions (two years ahead) must get the trigger too.
    far = timezone.now().date().replace(day=1) + timedelta(days=800)
    created = ensure_partitions(0, today=far)
    assert created
    now = timezone.now()
    moments = [now, now - timedelta(days=31), datetime.combine(far, datetime.min.time(), tzinfo=now.tzinfo)]
    moments.append(now + timedelta(days=3650))  # past the last month: the DEFAULT partition
    record_many([build_event(**_fields(), recorded_at=at) for at in moments])
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audit_event")
        partitions = {row[0] for row in cursor.fetchall()}
    assert {created[0], "audit_event_default", f"audit_event_p{now:%Y_%m}"} <= partitions
    for partition in partitions:
        for sql in (f'UPDATE "{partition}" SET status_code = 403', f'DELETE FROM "{partition}"'):
            with pytest.raises(DatabaseError, match="append-only"):
                _raw(sql, [])
    for sql in ("UPDATE audit_event SET status_code = 403", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError, match="append-only"):
            _raw(sql, [])
    assert Event.objects.filter(status_code=200).count() == 4


def _fields() -> dict:
    return {
        "organization_id": uuid.uuid4(),
        "actor": Actor.system(),
        "product_name": "kubernetes",
        "service_name": "scaleway.k8s.v1.Api",
        "method_name": "ReplaceNode",
        "locality": "nl-ams",
    }
