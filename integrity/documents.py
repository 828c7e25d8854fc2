"""An event's leaf data (its canonical serialization, `integrity.canonical`) built straight from a
database row, without a model instance: what sealing and `verify_trail` hash, event after event.

`leaf_data(row)` returns the very bytes of `canonical_bytes(event_document(event))` (the tests
check them against each other over generated events): the top-level keys are fixed, so they are
written in sorted order by hand, each string through the json module's own C escaper, and only
the two JSON fields (`resources`, `request_body`) go through the encoder with `sort_keys`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring_ascii  # the C escaper (or its Python twin)
from typing import Any

from django.db import connection

from audit.models import Event
from core.time import iso
from integrity.merkle import leaf_hash

# The columns a row carries, in this order (`fetch_rows`).
COLUMNS = (
    "id",
    "recorded_at",
    "locality",
    "organization_id",
    "project_id",
    "principal_id",
    "principal_type",
    "principal_name",
    "source_ip",
    "user_agent",
    "product_name",
    "service_name",
    "method_name",
    "resources",
    "request_id",
    "request_body",
    "status_code",
)
Row = tuple[Any, ...]

# One encoder for the nested JSON, configured as `canonical_bytes` configures json.dumps.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
_string = encode_basestring_ascii


def leaf_data(row: Row) -> bytes:
    """`canonical_bytes(event_document(event))` for the event whose COLUMNS these are."""
    (
        event_id,
        recorded_at,
        locality,
        organization_id,
        project_id,
        principal_id,
        principal_type,
        principal_name,
        source_ip,
        user_agent,
        product_name,
        service_name,
        method_name,
        resources,
        request_id,
        request_body,
        status_code,
    ) = row
    parts = [
        '{"id":"',
        str(event_id),
        '","locality":',
        _string(locality),
        ',"method_name":',
        _string(method_name),
        ',"organization_id":"',
        str(organization_id),
        '"',
    ]
    if principal_id:
        parts += [',"principal":{"id":"', str(principal_id), '"}']
    parts += [
        ',"principal_name":',
        _string(principal_name),
        ',"principal_type":',
        _string(principal_type),
        ',"product_name":',
        _string(product_name),
    ]
    if project_id:
        parts += [',"project_id":"', str(project_id), '"']
    parts += [
        ',"recorded_at":"',
        iso(recorded_at),
        '","request_body":',
        _encode(request_body or {}),
        ',"request_id":',
        _string(request_id),
        ',"resources":',
        _encode(resources or []),
        ',"service_name":',
        _string(service_name),
        ',"source_ip":',
        _string(source_ip or ""),
        ',"status_code":',
        int.__repr__(status_code),
        ',"user_agent":',
        _string(user_agent),
        "}",
    ]
    return "".join(parts).encode("ascii")


def row_leaf_hash(row: Row) -> bytes:
    return leaf_hash(leaf_data(row))


_ID = COLUMNS.index("id")
_RESOURCES = COLUMNS.index("resources")
_BODY = COLUMNS.index("request_body")


def fetch_rows(organization_id: uuid.UUID, event_ids: Sequence[uuid.UUID], *, unsealed: bool) -> list[Row]:
    """The rows (COLUMNS) of these events of the organization, in no order; with `unsealed`, only
    those not yet leaves of its tree. On PostgreSQL one statement with the ids as one array
    (`= ANY`), its JSON columns parsed here (Django's connection hands jsonb over as text)."""
    from integrity.models import Leaf

    if connection.vendor != "postgresql":
        events = Event.objects.filter(organization_id=organization_id, id__in=event_ids)
        if unsealed:
            sealed = Leaf.objects.filter(organization_id=organization_id, event_id__in=event_ids)
            events = events.exclude(id__in=sealed.values("event_id"))
        return list(events.order_by().values_list(*COLUMNS))
    columns = ", ".join(f"e.{column}" for column in COLUMNS)
    sql = f"SELECT {columns} FROM {Event._meta.db_table} e WHERE e.organization_id = %s AND e.id = ANY(%s)"
    params: list[Any] = [organization_id, list(event_ids)]
    if unsealed:
        sql += f" AND NOT EXISTS (SELECT 1 FROM {Leaf._meta.db_table} l WHERE l.organization_id = %s AND l.event_id = e.id)"
        params.append(organization_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_parsed(row) for row in cursor.fetchall()]


def _parsed(row: Sequence[Any]) -> Row:
    parsed = list(row)
    for i in (_RESOURCES, _BODY):
        if isinstance(parsed[i], str):
            parsed[i] = json.loads(parsed[i])
    return tuple(parsed)


def rows_by_id(rows: Iterable[Row]) -> dict[uuid.UUID, Row]:
    return {row[_ID]: row for row in rows}
