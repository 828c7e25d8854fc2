"""Month partitions of `audit_event` on PostgreSQL (a plain table on SQLite).

The table is created `PARTITION BY RANGE (recorded_at)`; its primary key is `EVENT_KEY` (migration
0004), while Django's model state keeps `id` as the primary key. Monthly partitions are kept ahead by
`manage.py ensure_partitions` and after every migrate; rows past the last one land in the
DEFAULT partition rather than failing.

The append-only guard (migrations 0002 and 0004): a row-level trigger refuses UPDATE and DELETE,
and PostgreSQL clones it onto every partition. The statement-level trigger that refuses TRUNCATE
is not cloned (PostgreSQL 15 keeps statement triggers on the table they were created on, and
`TRUNCATE audit_event_p2026_01` fires only the partition's), so `ensure_partitions` puts it on
each partition itself.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Field, ForeignObjectRel, Model
from django.utils import timezone

from audit.database import apply_runtime_grants, lock_down_append_only

TABLE = "audit_event"
TRUNCATE_TRIGGER = "audit_event_no_truncate"

SQLITE_APPEND_ONLY_TRIGGER = """
    CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only (UPDATE blocked)'); END"""


# The events table's real primary key. Django's model state names `id` alone (its admin refuses
# composite keys). The organization is part of it because an id is unique only within its
# organization (ingestion's idempotency is per organization: two organizations may send the same
# id); recorded_at because PostgreSQL wants the partition key in every unique constraint. `id`
# leads, so a lookup by id, the ingestion's known-id probe and the admin's `-id` order walk it.
EVENT_KEY = ("id", "recorded_at", "organization_id")


def _column_definitions(schema_editor: BaseDatabaseSchemaEditor, model: type[Model]) -> list[str]:
    """Each column's DDL from the model's own field types, without any key."""
    qn, conn = schema_editor.quote_name, schema_editor.connection
    columns = []
    for field in model._meta.local_concrete_fields:
        if field.column is None:
            continue
        params = field.db_parameters(connection=conn)
        sql = f"{qn(field.column)} {params['type']}"
        if params.get("check"):
            sql += f" CHECK ({params['check']})"
        columns.append(sql + ("" if field.null else " NOT NULL"))
    return columns


def _column(field: Field[Any, Any] | ForeignObjectRel) -> str:
    """A concrete field's column. django-stubs types every field's `column` as optional (a
    non-concrete field has none, a relation no attribute at all); the keys named here are concrete."""
    if isinstance(field, ForeignObjectRel) or field.column is None:
        raise ValueError(f"{field} has no column")
    return field.column


def create_partitioned_table(
    schema_editor: BaseDatabaseSchemaEditor, model: type[Model], *, key: str
) -> None:
    """CREATE TABLE from the model's own field types, partitioned by `key` on PostgreSQL."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.create_model(model)
        return
    qn, opts = schema_editor.quote_name, model._meta
    columns = _column_definitions(schema_editor, model)
    pk_columns = [_column(f) for f in opts.pk_fields]
    key_column = _column(opts.get_field(key))
    if key_column not in pk_columns:  # a unique key of a partitioned table must include the partition key
        pk_columns.append(key_column)
    table = opts.db_table
    schema_editor.execute(
        f"CREATE TABLE {qn(table)} ({', '.join(columns)}, CONSTRAINT {qn(table + '_pkey')} "
        f"PRIMARY KEY ({', '.join(map(qn, pk_columns))})) PARTITION BY RANGE ({qn(key_column)})"
    )
    schema_editor.execute(f"CREATE TABLE {qn(table + '_default')} PARTITION OF {qn(table)} DEFAULT")
    for index in opts.indexes:  # on the parent: PostgreSQL clones them onto every partition
        schema_editor.add_index(model, index)


def set_primary_key(
    schema_editor: BaseDatabaseSchemaEditor, model: type[Model], columns: tuple[str, ...]
) -> None:
    """Make `columns` the table's primary key, its rows kept.

    PostgreSQL: the key of the partitioned parent, rebuilt on every partition. SQLite cannot alter
    a primary key: the table is rebuilt (its rows copied, its indexes and trigger made again),
    which Django's own rebuild would do with `id` alone as the key.
    """
    qn, table = schema_editor.quote_name, model._meta.db_table
    key = ", ".join(map(qn, columns))
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(table + '_pkey')}")
        schema_editor.execute(
            f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(table + '_pkey')} PRIMARY KEY ({key})"
        )
    elif vendor == "sqlite":
        new = qn(f"{table}__new")
        names = ", ".join(qn(_column(f)) for f in model._meta.local_concrete_fields)
        columns_sql = ", ".join(_column_definitions(schema_editor, model))
        schema_editor.execute(f"CREATE TABLE {new} ({columns_sql}, PRIMARY KEY ({key}))")
        schema_editor.execute(f"INSERT INTO {new} ({names}) SELECT {names} FROM {qn(table)}")
        schema_editor.execute(f"DROP TABLE {qn(table)}")  # its indexes and trigger with it
        schema_editor.execute(f"ALTER TABLE {new} RENAME TO {qn(table)}")
        for index in model._meta.indexes:
            schema_editor.add_index(model, index)
        schema_editor.execute(SQLITE_APPEND_ONLY_TRIGGER)


def primary_key(using: str = DEFAULT_DB_ALIAS) -> tuple[str, ...]:
    """The events table's primary key columns, in order, as the database has them."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT a.attname FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = %s::regclass AND a.attnum = k.attnum "
                "WHERE c.conrelid = %s::regclass AND c.contype = 'p' ORDER BY k.n",
                [TABLE, TABLE],
            )
            return tuple(row[0] for row in cursor.fetchall())
        cursor.execute(f'PRAGMA table_info("{TABLE}")')
        return tuple(row[1] for row in sorted((r for r in cursor.fetchall() if r[5]), key=lambda r: r[5]))


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


def ensure_partitions(
    months_ahead: int = 2, *, months_back: int = 0, today: date | None = None, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Create the monthly partitions from `months_back` before this month to `months_ahead` after.

    Idempotent. Returns the names it created. A no-op on SQLite. Every partition, new or not,
    gets the TRUNCATE guard, and no privileges for any role but the owner (rows are inserted and
    read through the parent, whose privileges are the ones checked).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    first = _add_months((today or timezone.now().date()).replace(day=1), -months_back)
    created = []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        # CREATE ... PARTITION OF takes ACCESS EXCLUSIVE on the parent and default: never queue behind readers.
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        # Maintenance, not a request: the runtime's statement timeout (single-role set-ups) must not cut it.
        cursor.execute("SET LOCAL statement_timeout = 0")
        for i in range(months_back + months_ahead + 1):
            start = _add_months(first, i)
            name = partition_name(start)
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is None:
                # An explicit +00 keeps the bounds independent of the session's TimeZone.
                cursor.execute(
                    f'CREATE TABLE "{name}" PARTITION OF "{TABLE}" FOR VALUES '
                    f"FROM ('{start} 00:00:00+00') TO ('{_add_months(start, 1)} 00:00:00+00')"
                )
                created.append(name)
        guard_partitions(cursor)
        lock_down_append_only(cursor)
    return created


def guard_partitions(cursor: Any) -> list[str]:
    """Give every partition lacking it the parent's statement-level TRUNCATE trigger.

    Only once the parent has it (migration 0004), so that migrating backwards stays possible.
    Returns the partitions it guarded.
    """
    cursor.execute(
        "SELECT i.inhrelid::regclass::text FROM pg_inherits i WHERE i.inhparent = to_regclass(%s) "
        "AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = i.inhparent AND tgname = %s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = i.inhrelid AND tgname = %s) ORDER BY 1",
        [TABLE, TRUNCATE_TRIGGER, TRUNCATE_TRIGGER],
    )
    partitions = [row[0] for row in cursor.fetchall()]
    for partition in partitions:
        cursor.execute(
            f"CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {partition} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_forbid_change()"
        )
    return partitions


def after_migrate(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    connection = connections[using]
    if TABLE not in connection.introspection.table_names():  # e.g. after `migrate audit zero`
        return
    if connection.vendor == "postgresql":
        ensure_partitions(using=using)
        apply_runtime_grants(using)
    elif connection.vendor == "sqlite":
        # SQLite rebuilds tables on some ALTERs and silently drops their triggers: put it back.
        with connection.cursor() as cursor:
            cursor.execute(SQLITE_APPEND_ONLY_TRIGGER)
