"""core.replication without a replica (tests/ha has the real one): what counts as a write, what
counts as the database being away, and that reads stay on the primary when there is no replica."""

from __future__ import annotations

import psycopg
import pytest
from django.core.cache import caches
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
)
from django.test import override_settings

from core import replication
from iam.models import Project
from tests.factories import ProjectFactory


@pytest.mark.parametrize(
    ("sql", "write"),
    [
        ('SELECT "audit_event"."id" FROM "audit_event"', False),
        ("WITH facet_sample_all AS (SELECT 1) SELECT * FROM facet_sample_all", False),
        ('SELECT 1 FROM "iam_project" FOR UPDATE', False),
        ("SAVEPOINT s1", False),
        ('INSERT INTO "audit_event" ("id") VALUES (%s)', True),
        ('  update "iam_project" SET "name" = %s', True),
        ('DELETE FROM "iam_project" WHERE "id" = %s', True),
        ("WITH moved AS (DELETE FROM t RETURNING *) INSERT INTO u SELECT * FROM moved", True),
        # The shared cache (rate limits, throttles) is not what a request reads back from a list.
        ('INSERT INTO "audit_trail_cache" (cache_key, value, expires) VALUES (%s, %s, %s)', False),
        ('UPDATE "audit_trail_cache" SET value = %s WHERE cache_key = %s', False),
    ],
)
def test_what_marks_a_request_as_having_written(sql, write):
    assert replication.is_write(sql) is write


@pytest.mark.django_db
def test_an_orm_write_marks_the_request_and_the_next_request_starts_clean():
    replication.begin()
    ProjectFactory()  # reads and writes through the ORM on the primary's connection
    assert replication.has_written()
    replication.begin()  # request_started
    list(Project.objects.all())
    assert not replication.has_written()


@pytest.mark.django_db
@override_settings(
    CACHES={"default": {"BACKEND": "iam.cache.DatabaseCache", "LOCATION": "audit_trail_cache"}}
)
def test_the_rate_limit_counting_in_the_database_cache_is_not_a_write():
    replication.begin()
    cache = caches["default"]
    cache.set("throttle:probe", 1)
    cache.incr("throttle:probe")
    assert not replication.has_written()


def test_without_a_replica_every_read_goes_to_the_primary():
    assert not replication.replica_configured()
    replication.begin()
    assert replication.replica_alias() == DEFAULT_DB_ALIAS
    assert replication.shown_as_of(DEFAULT_DB_ALIAS) is None


def test_the_replica_router_never_writes_to_the_replica_nor_migrates_it():
    router = replication.ReplicaRouter()
    project = Project()
    project._state.db = "replica"  # read from the standby
    assert router.db_for_write(Project, instance=project) == DEFAULT_DB_ALIAS
    assert router.allow_migrate("replica", "iam") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "iam") is None


def _wrapped(django_error, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as error:
            raise django_error(*error.args) from error
    except BaseException as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "away"),
    [
        (
            _wrapped(OperationalError, psycopg.OperationalError("server closed the connection unexpectedly")),
            True,
        ),
        (_wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating connection")), True),
        (_wrapped(InternalError, psycopg.errors.ReadOnlySqlTransaction("read-only transaction")), True),
        (InterfaceError("connection already closed"), True),
        # A statement timeout or a broken constraint is not an outage: waiting does not fix it.
        (_wrapped(OperationalError, psycopg.errors.QueryCanceled("canceling statement")), False),
        (_wrapped(IntegrityError, psycopg.errors.UniqueViolation("duplicate key")), False),
        (ValueError("no"), False),
    ],
)
def test_what_counts_as_the_database_being_away(error, away):
    assert replication.database_unavailable(error) is away


@pytest.mark.django_db(transaction=True)
def test_a_connection_opened_inside_an_execute_wrapper_block_keeps_that_blocks_wrapper_on_top():
    from django.db import connection

    seen = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    connection.close()
    with connection.execute_wrapper(spy):
        list(Project.objects.all())  # connects here: the write marker joins the wrappers
    assert spy not in connection.execute_wrappers
    assert replication.mark_writes in connection.execute_wrappers
    assert seen
