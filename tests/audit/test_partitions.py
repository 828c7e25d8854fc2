"""The events table on PostgreSQL: partitioned by month, kept ahead by `ensure_partitions`."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.models import POSTGRESQL_ONLY_INDEXES, Event
from audit.partitions import EVENT_KEY, _add_months, ensure_partitions, partition_name, primary_key
from audit.services import Actor, build_event, record_many

POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL-only: SQLite has a plain table")


def _partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'audit_event'::regclass"
        )
        return {row[0] for row in cursor.fetchall()}


def _this_month() -> date:
    return timezone.now().date().replace(day=1)


def _call(*args: str) -> str:
    out = StringIO()
    call_command("ensure_partitions", *args, stdout=out)
    return out.getvalue()


def _event_at(at: datetime) -> Event:
    return build_event(
        organization_id=uuid.uuid4(),
        actor=Actor.system(),
        product_name="instance",
        service_name="scaleway.instance.v1.Api",
        method_name="ServerAction",
        locality="fr-par-1",
        recorded_at=at,
    )


@postgres_only
@pytest.mark.django_db
def test_the_table_is_range_partitioned_by_recorded_at_with_id_recorded_at_and_organization_as_its_key():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef('audit_event'::regclass)")
        assert cursor.fetchone()[0] == "RANGE (recorded_at)"
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'audit_event_pkey'"
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, recorded_at, organization_id)"


@pytest.mark.django_db
def test_the_events_table_is_keyed_by_id_recorded_at_and_organization_on_every_database():
    # Django's model state names `id` alone: a SQLite rebuild from that state (some ALTERs) would
    # silently make ids unique across organizations again.
    assert primary_key() == EVENT_KEY == ("id", "recorded_at", "organization_id")


@postgres_only
@pytest.mark.django_db
def test_the_test_database_has_a_default_partition_and_this_month_and_two_ahead():
    expected = {partition_name(_add_months(_this_month(), i)) for i in range(3)}
    assert _partitions() >= expected | {"audit_event_default"}


@postgres_only
@pytest.mark.django_db
def test_rows_route_to_their_month_and_past_the_last_month_to_the_default_partition():
    now = timezone.now()
    beyond = datetime.combine(_add_months(_this_month(), 12), datetime.min.time(), tzinfo=now.tzinfo)
    here, there = _event_at(now), _event_at(beyond)
    record_many([here, there])
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, tableoid::regclass::text FROM audit_event")
        where = dict(cursor.fetchall())
    assert where == {here.id: partition_name(_this_month()), there.id: "audit_event_default"}
    assert Event.objects.get(pk=there.id).recorded_at == beyond


@postgres_only
@pytest.mark.django_db
def test_a_partition_created_later_gets_every_index_and_the_append_only_trigger():
    later = _add_months(_this_month(), 20)
    assert ensure_partitions(0, today=later) == [partition_name(later)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'audit_event' "
            "UNION ALL SELECT count(*) FROM pg_indexes WHERE tablename = %s",
            [partition_name(later)],
        )
        parent, child = (row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY 1",
            [partition_name(later)],
        )
        triggers = [row[0] for row in cursor.fetchall()]
    # + the primary key, + the trigram indexes that migration 0007 makes on PostgreSQL only.
    assert parent == child == len(Event._meta.indexes) + 1 + len(POSTGRESQL_ONLY_INDEXES)
    # The row trigger is cloned by PostgreSQL; the statement-level TRUNCATE one by ensure_partitions.
    assert triggers == ["audit_event_append_only", "audit_event_no_truncate"]


@postgres_only
@pytest.mark.django_db
def test_ensure_partitions_command_creates_missing_months_once():
    back = [partition_name(_add_months(_this_month(), -i)) for i in (1, 2, 3)]
    ahead = partition_name(_add_months(_this_month(), 5))
    assert not set(back) & _partitions()

    first = _call("--months-back", "3", "--months-ahead", "5")
    assert "Created 6 partition(s)" in first
    assert set(back) | {ahead} <= _partitions()

    again = _call("--months-back", "3", "--months-ahead", "5")
    assert again.strip() == "All partitions already exist."


@postgres_only
@pytest.mark.django_db
def test_ensure_partitions_is_idempotent_as_a_function():
    assert ensure_partitions(2) == []  # migrate already made them
    made = ensure_partitions(1, months_back=1)
    assert made == [partition_name(_add_months(_this_month(), -1))]
    assert ensure_partitions(1, months_back=1) == []


@postgres_only
@pytest.mark.django_db
def test_column_types_match_what_django_would_create():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
            "WHERE attrelid = 'audit_event'::regclass AND attnum > 0 AND NOT attisdropped"
        )
        columns = {name: (db_type, not_null) for name, db_type, not_null in cursor.fetchall()}
    expected = {f.column: (f.db_type(connection), not f.null) for f in Event._meta.local_concrete_fields}
    # format_type() spells varchar(n) the long way; every other type reads as Django writes it.
    normalized = {name: (t.replace("character varying", "varchar"), nn) for name, (t, nn) in columns.items()}
    assert normalized == expected


def test_ensure_partitions_command_refuses_negative_months():
    with pytest.raises(CommandError, match="0 or more"):
        _call("--months-ahead", "-1")


@pytest.mark.skipif(POSTGRES, reason="SQLite-only")
@pytest.mark.django_db
def test_ensure_partitions_command_is_a_no_op_on_sqlite():
    assert "partitioned on PostgreSQL only" in _call()


@pytest.mark.django_db
def test_migrations_match_the_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_an_event_in_a_month_without_events_still_reads_back(django_assert_num_queries):
    # UUIDv7 ids carry their own time: get(pk=) finds an event recorded a year ago in one query.
    at = timezone.now() - timedelta(days=365)
    event = _event_at(at)
    record_many([event])
    with django_assert_num_queries(1):
        assert Event.objects.get(pk=event.id).recorded_at == at
