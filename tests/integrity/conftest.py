from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.db import connection

from audit.partitions import SQLITE_APPEND_ONLY_TRIGGER
from audit.services import Actor, record_many
from audit.services import build_event as _build
from integrity.keys import clear_cache


@pytest.fixture(autouse=True)
def sealing(settings) -> Iterator[None]:
    """Sealing runs on every recorded event here (the immediate backend: at commit)."""
    settings.INTEGRITY_SEAL_ON_RECORD = True
    clear_cache()
    yield
    clear_cache()


def make_events(organization, n: int, *, recorded_at: datetime | None = None, **fields: Any) -> list:
    events = [
        _build(
            organization_id=organization.pk,
            actor=Actor.system(),
            product_name="secret-manager",
            service_name="scaleway.secret_manager.v1beta1.Api",
            method_name=fields.get("method_name", f"CreateSecret{i}"),
            locality="fr-par",
            recorded_at=recorded_at,
            request_body={"name": f"db-pass-{i}", "note": "café ☕"},
        )
        for i in range(n)
    ]
    return record_many(events)


@contextlib.contextmanager
def as_tamperer() -> Iterator[Any]:
    """A cursor of a superuser with the append-only triggers out of the way (PostgreSQL: a replica
    session fires none; SQLite: the UPDATE trigger dropped, then put back)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                yield cursor
            finally:
                cursor.execute("SET session_replication_role = origin")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
            try:
                yield cursor
            finally:
                cursor.execute(SQLITE_APPEND_ONLY_TRIGGER)
