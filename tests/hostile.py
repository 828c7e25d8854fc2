"""Hostile input for the console: what a person, a script or a tampered link can put in a form field
or a URL, as Hypothesis strategies, and the check every answer must pass.

An answer to hostile input is never a 5xx and never logs an error: the view either re-renders the
form with its errors (200 or 400), or ignores what it cannot read and says so on the page, or
refuses (403/404) or redirects after a success.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded and reproducible: the whole console suite stays well under a minute and a half.
HOSTILE = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one signed-in client and one organization for all examples
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

# Anything UTF-8 can carry (a lone surrogate cannot leave the browser).
CHARACTERS = st.characters(exclude_categories=["Cs"])
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "\t",
    "\u202e",
    "\ufeff",
    "🙂",
    "0",
    "-1",
    "1e308",
    "99999999999999999999999999",
    "NaN",
    "null",
    "true",
    "%s%n",
    "{0}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "x" * 5000,
]
EDGE_UUIDS = [
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-4fff-bfff-ffffffffffff",
    "ffffffff-ffff-7fff-bfff-ffffffffffff",
    "00000000-0000-7000-8000-000000000000",
    "e3e70682c2091caca29f6fbed82c07cd",
    "{e3e70682-c209-1cac-a29f-6fbed82c07cd}",
]
EDGE_TIMESTAMPS = [
    "0001-01-01T00:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59",
    "9999-12-31T23:59:59-05:00",
    "2026-11-29T10:00:00+21:00",
    "2026-11-29T10:00:00-19:00",
    "2026-02-30T00:00",
    "2026-11-29T24:00",
    "10000-01-01T00:00",
    "0000-00-00T00:00",
    "2026-11-29",
    "2026-W48-1",
]
EDGE_ADDRESSES = [
    "fe80::1%eth0",
    "::ffff:1.2.3.4",
    "1.2.3.4/33",
    "0.0.0.0/0",
    "::/0",
    "256.1.1.1",
    "1.2.3.4/255.255.0.0",
    "01.2.3.4",
    "::1/129",
    "2001:db8::/32",
]


def text(max_size: int = 80) -> st.SearchStrategy[str]:
    return st.text(CHARACTERS, max_size=max_size)


def uuids() -> st.SearchStrategy[str]:
    return st.one_of(st.uuids().map(str), st.sampled_from(EDGE_UUIDS))


def _offsets() -> st.SearchStrategy[timezone]:
    return st.timedeltas(
        min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
    ).map(lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1))))


def timestamps() -> st.SearchStrategy[str]:
    """Any instant from year 1 to 9999 at any offset, as a browser, a link or the SDKs spell it."""
    moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
    aware = st.builds(lambda moment, tz: moment.replace(tzinfo=tz), moments, _offsets())
    return st.one_of(
        moments.map(lambda m: m.strftime("%Y-%m-%dT%H:%M")),  # <input type="datetime-local">
        aware.map(lambda m: m.isoformat()),
        aware.map(lambda m: str(m)),
        aware.map(lambda m: m.isoformat().replace("+00:00", "Z")),
        st.sampled_from(EDGE_TIMESTAMPS),
    )


def addresses() -> st.SearchStrategy[str]:
    return st.one_of(
        st.ip_addresses().map(str),
        st.builds(lambda ip, prefix: f"{ip}/{prefix}", st.ip_addresses(v=4), st.integers(-1, 40)),
        st.builds(lambda ip, prefix: f"{ip}/{prefix}", st.ip_addresses(v=6), st.integers(0, 140)),
        st.sampled_from(EDGE_ADDRESSES),
    )


def cursors() -> st.SearchStrategy[str]:
    """Page links as the console writes them (base64 of [instant, id, newer]), with any content."""
    parts = st.lists(
        st.one_of(timestamps(), uuids(), st.integers(), st.booleans(), st.none(), text(20)), max_size=4
    )
    return st.one_of(
        parts.map(lambda p: base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")),
        text(60),
    )


def field(*valid: Any) -> st.SearchStrategy[Any]:
    """A form field: one of its valid values, or anything else."""
    choices = [st.sampled_from(valid)] if valid else []
    return st.one_of(*choices, st.sampled_from(NASTY), text(), uuids(), timestamps())


def assert_handled(response: Any, caplog: Any, *, allowed: tuple[int, ...] = (200, 302, 400, 404)) -> None:
    """Not a server error, an expected status, and no unhandled exception logged."""
    assert response.status_code < 500, response.status_code
    assert response.status_code in allowed, response.status_code
    errors = [r for r in caplog.records if r.name == "django.request" and r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


ERROR_MARKS = ("field-error", "form-errors", "errorlist", 'role="alert"')


def shows_an_error(response: Any) -> bool:
    """The page tells the person what is wrong (a field's error, the form's, or an alert)."""
    page = response.content.decode()
    return any(mark in page for mark in ERROR_MARKS)


@contextmanager
def rolled_back(caplog: Any) -> Iterator[None]:
    """One example in a savepoint, rolled back, with a fresh log: what it wrote, or a database
    error it caused, cannot change the next example (and Hypothesis can replay it to shrink)."""
    caplog.clear()
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
