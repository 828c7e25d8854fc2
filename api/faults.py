"""When the database cannot answer: 503 with Retry-After, never a 500, and one log line.

Read-only (a failover, maintenance), a lock held past DB_LOCK_TIMEOUT_MS, a statement past
DB_STATEMENT_TIMEOUT_MS, a lost connection, a full server: the request cannot be served now but
can be later, which is what 503 says. API paths answer JSON in Scaleway's shape
(`service_unavailable`), the console a page. A refused call whose refusal cannot be recorded
answers 503 too: nothing that was not stored is acknowledged.

One classification, three doors: `DatabaseFaultMiddleware.process_exception` for views, and
handler500 and handler400 for what fails in a middleware. A failed session save, for one,
reaches Django as SessionInterrupted, a 400 whose context is the database error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

from api.http import API_PREFIXES, service_unavailable

logger = logging.getLogger(__name__)

# Short waits for contention, which clears in seconds; longer ones for an outage.
CONTENTION, OUTAGE = 5, 30


@dataclass(frozen=True)
class Fault:
    reason: str  # read_only, lock_timeout, statement_timeout, conflict, connection, overloaded
    retry_after: int
    detail: str


# PostgreSQL SQLSTATEs (by code, then by class) that mean "not now" rather than "never".
SQLSTATES = {
    "25006": ("read_only", OUTAGE),  # read_only_sql_transaction: a standby, or read-only set
    "55P03": ("lock_timeout", CONTENTION),  # lock_not_available
    "57014": ("statement_timeout", CONTENTION),  # query_canceled
    "57P01": ("connection", OUTAGE),  # admin_shutdown
    "57P02": ("connection", OUTAGE),  # crash_shutdown
    "57P03": ("connection", OUTAGE),  # cannot_connect_now
}
SQLSTATE_CLASSES = {
    "08": ("connection", OUTAGE),  # connection exception
    "40": ("conflict", 1),  # serialization failure, deadlock: retrying succeeds
    "53": ("overloaded", OUTAGE),  # insufficient resources: disk full, too many connections
}
SQLITE_MESSAGES = {
    "database is locked": ("lock_timeout", CONTENTION),
    "readonly database": ("read_only", OUTAGE),
    "unable to open database": ("connection", OUTAGE),
    "disk i/o error": ("connection", OUTAGE),
    "database or disk is full": ("overloaded", OUTAGE),
}


def database_fault(exception: BaseException | None) -> Fault | None:
    """The fault `exception` reports, or None when it is not a database availability fault.

    Django wraps the driver's error; its SQLSTATE is on the cause. A driver error without one
    (refused connection, reset socket) is a connection fault. The chain is followed through
    `__context__` too: the session middleware re-raises a database error as its own.
    """
    for error in _chain(exception):
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate:
            known = SQLSTATES.get(sqlstate) or SQLSTATE_CLASSES.get(sqlstate[:2])
            return Fault(*known, detail=_first_line(error)) if known else None
    for error in _chain(exception):
        if isinstance(error, InterfaceError):
            return Fault("connection", OUTAGE, _first_line(error))
        if isinstance(error, OperationalError):
            message = str(error).lower()
            for needle, known in SQLITE_MESSAGES.items():
                if needle in message:
                    return Fault(*known, detail=_first_line(error))
            if type(error.__cause__).__module__.startswith("psycopg"):
                return Fault("connection", OUTAGE, _first_line(error))
    return None


def _chain(exception: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exception is not None and id(exception) not in seen:
        seen.add(id(exception))
        yield exception
        exception = exception.__cause__ or exception.__context__


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


EXPLANATIONS = {
    "read_only": "The database is read-only for now (maintenance or a failover): changes cannot be saved.",
    "lock_timeout": "The database is busy and did not answer in time.",
    "statement_timeout": "The database is busy and did not answer in time.",
    "conflict": "Another change got in the way of this one.",
    "connection": "The database cannot be reached.",
    "overloaded": "The database is overloaded.",
}


def unavailable(request: HttpRequest, fault: Fault) -> HttpResponse:
    """The 503 answer: JSON on the API, a page (that needs no database) in the console."""
    logger.warning("503 %s %s: database %s (%s)", request.method, request.path, fault.reason, fault.detail)
    if request.path.startswith(API_PREFIXES):
        response: HttpResponse = service_unavailable(fault.reason, fault.retry_after).response()
    else:
        # No request context: the context processors would query the database that just failed.
        page = render_to_string(
            "503.html",
            {
                "explanation": EXPLANATIONS[fault.reason],
                "retry_after": fault.retry_after,
                "again": request.get_full_path() if request.method == "GET" else "/",
            },
        )
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(fault.retry_after)
    # Logged above, in one line: Django would log it again, with a traceback from handler500.
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's own flag against logging twice
    return response


class DatabaseFaultMiddleware:
    """Turn a view's database availability fault into a 503 (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        fault = database_fault(exception)
        return None if fault is None else unavailable(request, fault)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database fault raised in a middleware is a 503 too."""
    fault = database_fault(sys.exc_info()[1])
    if fault is not None:
        return unavailable(request, fault)
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: the session save that the database refused (SessionInterrupted) is a 503."""
    fault = database_fault(exception)
    if fault is not None:
        return unavailable(request, fault)
    return defaults.bad_request(request, exception)
