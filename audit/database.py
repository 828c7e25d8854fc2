"""The database role model (PostgreSQL): an owner that migrates, a runtime role that can only append.

The tables' owner can do anything to them: TRUNCATE (refused by a trigger, which the owner can
disable), DROP or DETACH a partition, ALTER TABLE ... DISABLE TRIGGER. So the web process and the
task worker connect as a *runtime role* that owns nothing: it may INSERT and SELECT the
append-only tables, and read and write every other table. Migrations, `ensure_partitions` and
retention connect as the owner (`DATABASE_OWNER_URL`, the `owner` database alias).

`manage.py create_runtime_role` creates that role; after every migrate the grants are applied
again, so tables added by later migrations are covered (and default privileges cover tables the
owner creates in between).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

# The one list of append-only tables: the runtime role gets INSERT and SELECT on these and
# nothing else; every other table in the schema gets SELECT, INSERT, UPDATE and DELETE.
# Their partitions get no privileges at all: PostgreSQL checks the parent's when rows are
# inserted or read through it, and a partition is never addressed directly.
# audit_event_key holds the ingestion idempotency keys: claimed once, never changed. The integrity
# tables (named, not imported: audit knows nothing of its subscribers) hold the sealed trees' leaves,
# their signed heads and the keys that signed them.
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "audit_event",
    "audit_authenticationevent",
    "audit_event_key",
    "audit_systemevent",
    "integrity_leaf",
    "integrity_node",
    "integrity_treehead",
    "integrity_publickey",
    "integrity_checkpoint",
)

OWNER_ALIAS = "owner"
ROLE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# What no role but the owner may hold on an append-only table.
FORBIDDEN_ON_APPEND_ONLY = ("UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def owner_alias() -> str:
    """The alias that migrations and partition maintenance use: `owner` when configured."""
    return OWNER_ALIAS if OWNER_ALIAS in settings.DATABASES else DEFAULT_DB_ALIAS


_as_owner: ContextVar[bool] = ContextVar("as_owner", default=False)


@contextmanager
def as_owner() -> Iterator[None]:
    """Send every ORM query of the block to the owner's connection (see OwnerRouter)."""
    token = _as_owner.set(True)
    try:
        yield
    finally:
        _as_owner.reset(token)


class OwnerRouter:
    """Inside `as_owner()`, reads and writes go to the `owner` alias.

    Data migrations (some third-party ones among them) query `Model.objects` without
    `.using(schema_editor.connection.alias)`: under `migrate --database owner` they would run on
    the runtime connection, which cannot see the owner's uncommitted tables (nor alter them).
    """

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return OWNER_ALIAS if _as_owner.get() and OWNER_ALIAS in settings.DATABASES else None

    db_for_write = db_for_read


@contextmanager
def unbounded_statements(using: str) -> Iterator[None]:
    """Lift the connection's statement timeout for the block: maintenance is not a stuck request.

    Without an owner URL, migrate runs on the runtime connection and its 30 s bound. RESET
    afterwards gives back the connection's own setting (in tests, the connection lives on).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        if connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("RESET statement_timeout")


def configured_runtime_role() -> str | None:
    """The runtime role, when the owner has its own connection: the user of DATABASE_URL."""
    if OWNER_ALIAS not in settings.DATABASES:
        return None
    runtime, owner = settings.DATABASES[DEFAULT_DB_ALIAS], settings.DATABASES[OWNER_ALIAS]
    if runtime.get("ENGINE") != "django.db.backends.postgresql" or not runtime.get("USER"):
        return None
    return None if runtime["USER"] == owner.get("USER") else str(runtime["USER"])


def _owner(cursor: Any) -> str:
    """The role that owns the events table: the one migrations run as (else the current user)."""
    cursor.execute(
        "SELECT coalesce((SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(%s)), "
        "current_user)",
        [APPEND_ONLY_TABLES[0]],
    )
    return str(cursor.fetchone()[0])


def lock_down_append_only(cursor: Any) -> list[str]:
    """Take from every role but the owner what would let it change an append-only table.

    On the tables: UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER. On their partitions: every
    privilege. Idempotent and generic (it needs no role name, so it also undoes what default
    privileges give a partition `ensure_partitions` creates). Returns the statements it ran.
    """
    cursor.execute(
        """
        WITH schema AS (SELECT oid FROM pg_namespace WHERE nspname = current_schema()),
        tables AS (
            SELECT c.oid, false AS partition FROM pg_class c
            WHERE c.relname = ANY(%s) AND c.relnamespace = (SELECT oid FROM schema)
            UNION ALL
            SELECT i.inhrelid, true FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = ANY(%s) AND p.relnamespace = (SELECT oid FROM schema)
        )
        SELECT DISTINCT format(
            'REVOKE %%s ON %%s FROM %%s',
            CASE WHEN t.partition THEN 'ALL' ELSE %s END,
            t.oid::regclass,
            CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
        )
        FROM tables t JOIN pg_class c ON c.oid = t.oid, aclexplode(c.relacl) a
        WHERE a.grantee <> c.relowner AND (t.partition OR a.privilege_type = ANY(%s))
        """,
        [
            list(APPEND_ONLY_TABLES),
            list(APPEND_ONLY_TABLES),
            ", ".join(FORBIDDEN_ON_APPEND_ONLY),
            list(FORBIDDEN_ON_APPEND_ONLY),
        ],
    )
    statements = sorted(row[0] for row in cursor.fetchall())
    for statement in statements:
        cursor.execute(statement)
    return statements


def grant_runtime(cursor: Any, role: str) -> None:
    """Give `role` what the web process and the worker need, and no more. Idempotent.

    Every table and sequence of the schema, now and later (default privileges for the tables'
    owner): SELECT, INSERT, UPDATE, DELETE, and USAGE on sequences. Then the append-only tables
    are locked down: INSERT and SELECT only. Never TRUNCATE, never ownership, never CREATE.
    """
    name, owner = _identifier(cursor, role), _identifier(cursor, _owner(cursor))
    cursor.execute("SELECT quote_ident(current_schema())")
    schema = cursor.fetchone()[0]
    cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {name}")
    cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {name}")
    cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {name}")
    default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT"
    cursor.execute(f"{default} SELECT, INSERT, UPDATE, DELETE ON TABLES TO {name}")
    cursor.execute(f"{default} USAGE, SELECT ON SEQUENCES TO {name}")
    lock_down_append_only(cursor)


def _identifier(cursor: Any, name: str) -> str:
    cursor.execute("SELECT quote_ident(%s)", [name])
    return str(cursor.fetchone()[0])


@dataclass
class RuntimeRole:
    name: str
    created: bool
    password_set: bool


class RoleRefused(Exception):
    """The role cannot serve as the runtime role (it owns objects, is a superuser, ...)."""


def runtime_role_ensure(*, role: str, password: str | None = None, using: str | None = None) -> RuntimeRole:
    """Create (or bring in line) a LOGIN role that owns nothing and may only append events.

    Run as a superuser, or as the tables' owner if it has CREATEROLE, once after the first
    migrate; idempotent. The
    password, when given, is sent already SCRAM-hashed, so it never appears in the server's logs.
    Raises RoleRefused when an existing role of that name could do more than the runtime role
    may (superuser, owner of objects, member of the owner's role).
    """
    using = using or owner_alias()
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise RoleRefused("The runtime role exists on PostgreSQL only (SQLite has no roles).")
    if not ROLE_NAME_RE.match(role):
        raise RoleRefused(f"{role!r} is not a plain role name: lower-case letters, digits and _.")
    with transaction.atomic(using=using), connection.cursor() as cursor:
        name, owner = _identifier(cursor, role), _owner(cursor)
        cursor.execute(
            "SELECT oid, rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = %s", [role]
        )
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                f"CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            )
        else:
            _refuse_if_powerful(cursor, role, row, owner)
            # Only a superuser may even name SUPERUSER, REPLICATION or BYPASSRLS: checked above.
            cursor.execute(f"ALTER ROLE {name} LOGIN NOCREATEDB NOCREATEROLE")
        if password is not None:
            raw = connection.connection  # the open psycopg connection (the cursor above opened it)
            hashed = raw.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
            cursor.execute(f"ALTER ROLE {name} PASSWORD %s", [hashed.decode()])
        grant_runtime(cursor, role)
    return RuntimeRole(name=role, created=row is None, password_set=password is not None)


def _refuse_if_powerful(cursor: Any, role: str, row: tuple[Any, ...], owner: str) -> None:
    oid, is_privileged = row
    if is_privileged:
        raise RoleRefused(
            f"Role {role} is a superuser (or has REPLICATION or BYPASSRLS): it could empty the trail. "
            "Pick another name."
        )
    cursor.execute(
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relowner = %s "
        "UNION ALL SELECT nspname FROM pg_namespace WHERE nspowner = %s ORDER BY 1 LIMIT 5",
        [oid, oid],
    )
    owned = [r[0] for r in cursor.fetchall()]
    if owned:
        raise RoleRefused(f"Role {role} owns {', '.join(owned)}: the runtime role must own nothing.")
    cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [role, owner])
    if cursor.fetchone()[0]:
        raise RoleRefused(
            f"Role {role} is a member of {owner}, the tables' owner: it would act as the owner."
        )


def apply_runtime_grants(using: str) -> None:
    """After migrate: lock the append-only tables down, and grant the configured runtime role
    (when DATABASE_OWNER_URL is set and the role exists) whatever tables the migrations added."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(using=using), connection.cursor() as cursor:
        lock_down_append_only(cursor)
        role = configured_runtime_role()
        if role is not None:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is not None:
                grant_runtime(cursor, role)


def runtime_role_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """audit.W001: the application's connection can alter or empty the trail.

    That is the case when its role owns the events table, is a member of the owner's role, or
    is a superuser (pg_has_role is true for all three). Skipped when the database cannot be
    reached: this check informs, it must never stop a command.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, pg_get_userbyid(relowner), rolsuper FROM pg_class, pg_roles "
                "WHERE pg_class.oid = to_regclass(%s) AND rolname = current_user "
                "AND pg_has_role(current_user, relowner, 'USAGE')",
                [APPEND_ONLY_TABLES[0]],
            )
            row = cursor.fetchone()
    except DatabaseError:
        return []
    if row is None:
        return []
    user, owner, is_superuser = row
    why = (
        "is a superuser"
        if is_superuser
        else ("owns" if user == owner else f"is a member of {owner}, which owns")
    )
    return [
        checks.Warning(
            f"The application connects to the database as {user}, which {why} the events table "
            "(audit_event): that role can TRUNCATE, DROP or DETACH partitions and disable the "
            "append-only triggers, so the trail is only as safe as this process.",
            hint=(
                "Create a runtime role that owns nothing (`manage.py create_runtime_role --role "
                "audit_trail_app`), point DATABASE_URL at it, and set DATABASE_OWNER_URL to the "
                "owner for migrate and ensure_partitions. See the README, Running in production."
            ),
            id="audit.W001",
        )
    ]
