"""Heavy reads on a PostgreSQL standby (`DATABASE_REPLICA_URL`, the `replica` alias), safely.

Reads go to the standby only where a caller asks for it: `replica_alias()` in the selectors that
serve the long lists (the Events page, its timeline and facets, the API's list calls, downloads
and export runs). Everything else (alert state, the task queue, permissions, sessions, what a
form just saved) reads the primary, because nothing sends it elsewhere. An opt-in, rather than a
router that sends every read away, so that a new query is fresh unless someone decided otherwise.

`replica_alias()` answers `default` (the primary) when:
- no replica is configured (SQLite, a single PostgreSQL);
- the request or task has written: read-your-writes. Every statement on a primary connection
  passes `mark_writes` (an execute wrapper that `install_write_marker` puts on each new
  connection); an INSERT, UPDATE or DELETE marks the current request, whose later reads then stay
  on the primary. The shared cache's table is not a write the request reads back (the API's rate
  limit counts every call there), so it does not count;
- the replica could not be reached within its short connect timeout in the last
  REPLICA_RETRY_AFTER seconds: reads fall back to the primary at once instead of waiting on a
  dead host at every request.

The lag (`replica_lag`) is how far the standby's replay is behind: 0 when it has replayed all
the WAL it received, otherwise the time since the last transaction it replayed was committed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

logger = logging.getLogger(__name__)

REPLICA_ALIAS = "replica"
# After a failed connection to the replica, reads stay on the primary this many seconds.
REPLICA_RETRY_AFTER = 10.0
# The Events page says "as of HH:MM:SS" when the standby is further behind than this.
LAG_SHOWN_AFTER = timedelta(seconds=5)
# Tables whose writes do not make a request's later reads stale (see the module docstring).
NOT_WRITES = ("audit_trail_cache",)

_wrote: ContextVar[bool] = ContextVar("replication_wrote", default=False)
_down_until = 0.0
_down_lock = threading.Lock()

WRITE_RE = re.compile(r"^\s*(?:INSERT|UPDATE|DELETE|MERGE|COPY)\b", re.IGNORECASE)
# A statement opening with WITH may hide a write in a CTE: counted as one when it holds a write verb.
CTE_WRITE_RE = re.compile(r"^\s*WITH\b.*\b(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE | re.DOTALL)


def is_write(sql: str) -> bool:
    if not (WRITE_RE.match(sql) or CTE_WRITE_RE.match(sql)):
        return False
    return not any(table in sql[:200] for table in NOT_WRITES)


def mark_writes(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Execute wrapper: a write marks the current request (or task) as having written."""
    if isinstance(sql, str) and is_write(sql):
        _wrote.set(True)
    return execute(sql, params, many, context)


def install_write_marker(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: every connection but the replica's marks its writes."""
    if connection.alias != REPLICA_ALIAS and mark_writes not in connection.execute_wrappers:
        # First, not last: a connection opened inside `connection.execute_wrapper(w)` must still
        # have `w` on top, which that block's exit pops.
        connection.execute_wrappers.insert(0, mark_writes)


def begin(**kwargs: Any) -> None:
    """request_started and task_started receiver: a new request (or task) has written nothing yet.

    Worker threads serve one request after another: the mark must not outlive its request."""
    _wrote.set(False)


def has_written() -> bool:
    return _wrote.get()


def replica_configured() -> bool:
    return REPLICA_ALIAS in connections.settings


def replica_alias(*, fresh_since: datetime | None = None) -> str:
    """The alias a heavy read should use: `replica` when it can, else `default` (the primary).

    `fresh_since`: the read needs every event recorded before this moment (a day's export): the
    replica serves it only when its replay is known to have passed that moment.
    """
    if not replica_configured() or _wrote.get() or not replica_reachable():
        return DEFAULT_DB_ALIAS
    if fresh_since is not None:
        as_of = replica_as_of()
        if as_of is None or as_of < fresh_since:
            return DEFAULT_DB_ALIAS
    return REPLICA_ALIAS


def replica_reachable() -> bool:
    """Connect to the replica (or check its open connection) unless it failed a moment ago."""
    global _down_until
    if time.monotonic() < _down_until:
        return False
    connection = connections[REPLICA_ALIAS]
    try:
        # Opening a cursor runs the health check (CONN_HEALTH_CHECKS) and connects; no query.
        connection.cursor().close()
    except DatabaseError as error:
        with _down_lock:
            _down_until = time.monotonic() + REPLICA_RETRY_AFTER
        logger.warning(
            "Replica unreachable, reading from the primary for %ss: %s", REPLICA_RETRY_AFTER, error
        )
        connection.close()
        return False
    return True


def forget_replica_failure() -> None:
    """Try the replica again at the next read (tests, and an operator's shell)."""
    global _down_until
    _down_until = 0.0


LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""


def replica_lag(alias: str = REPLICA_ALIAS) -> timedelta | None:
    """How far `alias` (a standby) is behind its primary; None when it cannot say.

    A node that is not in recovery (the replica URL fell back to the primary) is not behind."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return timedelta(0)
    try:
        with connection.cursor() as cursor:
            cursor.execute(LAG_SQL)
            seconds = float(cursor.fetchone()[0])
    except DatabaseError:
        return None
    return timedelta(seconds=max(seconds, 0.0))


def replica_as_of(alias: str = REPLICA_ALIAS) -> datetime | None:
    """The moment up to which `alias` holds every committed transaction, as far as it knows."""
    lag = replica_lag(alias)
    return None if lag is None else timezone.now() - lag


def shown_as_of(alias: str) -> datetime | None:
    """For a page read from `alias`: the moment it shows the trail as of, when the standby lags
    more than LAG_SHOWN_AFTER; None when the page is current (or read from the primary)."""
    if alias != REPLICA_ALIAS:
        return None
    lag = replica_lag(alias)
    if lag is None or lag <= LAG_SHOWN_AFTER:
        return None
    return timezone.now() - lag


class ReplicaRouter:
    """Writes never go to the replica, even for an instance read from it; it is never migrated."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        instance = hints.get("instance")
        if instance is not None and getattr(instance._state, "db", None) == REPLICA_ALIAS:
            return DEFAULT_DB_ALIAS
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        together = {obj1._state.db, obj2._state.db}
        return True if together <= {DEFAULT_DB_ALIAS, REPLICA_ALIAS} else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA_ALIAS else None


# SQLSTATEs of a server going away or refusing writes for now: a failover in progress.
UNAVAILABLE_SQLSTATES = ("25006", "57P01", "57P02", "57P03")


def database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` says the database is away for now (a failover, a restart), rather than
    that the statement is wrong: a lost or refused connection, a server shutting down, a
    demoted primary refusing writes. The task worker waits these out and runs the task again."""
    chain: list[BaseException] = []
    while error is not None and all(error is not known for known in chain):
        chain.append(error)
        error = error.__cause__ or error.__context__
    for link in chain:  # the server's word first: a statement timeout is no outage
        if sqlstate := getattr(link, "sqlstate", None):
            return sqlstate in UNAVAILABLE_SQLSTATES or sqlstate.startswith("08")
    return any(
        isinstance(link, InterfaceError)
        or (isinstance(link, OperationalError) and type(link.__cause__).__module__.startswith("psycopg"))
        for link in chain
    )
