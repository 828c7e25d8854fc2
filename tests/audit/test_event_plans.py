"""Every list filter is index-driven on PostgreSQL (issue 14): EXPLAIN each query the Events page,
its timeline and the IAM logs make, and fail on a sequential scan of the events or on a bitmap
scan spread over more than one month's partition. (A partition with no row at all, next month's,
is not counted: the planner rightly reads nothing there however it likes.)

What makes the plans honest: a trail big enough that a sequential scan would be the planner's
choice if no index served the filter (40,000 events over two months, ten organizations of two regions,
one of them half the trail), and its real statistics (ANALYZE). No `enable_*` switch is turned off: the planner picks
freely, as it does in production. What a tiny table cannot show (index-only scans need a vacuumed
table, which a test's transaction cannot do) `tests/audit/test_event_scale.py` pins with switches.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connection

from api.iam import _page_and_total
from audit.partitions import ensure_partitions
from audit.selectors import EventQuery, event_queryset, event_timeline
from core.paging import Cursor, event_page
from iam.logs import iam_log_events

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans"),
    pytest.mark.django_db,
]

END = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # mid-month: a day's or a week's window is in one partition
EVENTS = 40_000
SPACING = 130  # seconds between events: 40,000 of them span two months, across three partitions
ORGANIZATIONS = 10


def _organization(n: int) -> uuid.UUID:
    return uuid.UUID(int=0xA0D17 << 64 | n)


ORG = _organization(0)  # the big one: half the trail
PROJECT = uuid.UUID(int=0xB0000 << 64 | 3)
PRINCIPAL = uuid.UUID(int=0xC0000 << 64 | 21)

# Ten organizations, one of them holding half the events (as busy ones do); every fifth event in nl-ams, 300 principals, 7 projects, 37 methods, one
# event in eleven an IAM call (some of them IAM log entries), one in 29 refused, 10.x addresses,
# one resource each (its JSON with an `_info` object, as producers send).


def _load_trail() -> None:
    ensure_partitions(0, today=END.date(), months_back=2)
    orgs = "ARRAY[" + ", ".join(f"'{_organization(n)}'::uuid" for n in range(ORGANIZATIONS)) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO audit_event (id, recorded_at, organization_id, project_id, locality, region,
                principal_id, principal_type, principal_name, source_ip, user_agent, product_name,
                service_name, method_name, resources, request_id, request_body, status_code)
            SELECT gen_random_uuid(),
                %(end)s::timestamptz - (g * %(spacing)s) * interval '1 second',
                CASE WHEN g %% 2 = 0 THEN ({orgs})[1] ELSE ({orgs})[2 + g %% ({ORGANIZATIONS} - 1)] END,
                ('00000000-000b-0000-0000-00000000000' || (g %% 7))::uuid,
                CASE WHEN g %% 5 = 0 THEN 'nl-ams' ELSE 'fr-par' END,
                CASE WHEN g %% 5 = 0 THEN 'nl-ams' ELSE 'fr-par' END,
                ('00000000-000c-0000-0000-' || lpad((g %% 300)::text, 12, '0'))::uuid,
                'user', 'user' || (g %% 300) || '@example.test',
                ('10.' || (g %% 50) || '.' || (g / 50 %% 256) || '.' || (g %% 251))::inet,
                'scaleway-sdk-go/v1.0.0-beta.' || (g %% 30) || ' terraform-provider/2.' || (g %% 9),
                CASE WHEN g %% 11 = 0 THEN 'iam' ELSE 'instance' END,
                CASE WHEN g %% 11 = 0 THEN 'scaleway.iam.v1alpha1.Api' ELSE 'scaleway.instance.v1.Api' END,
                CASE WHEN g %% 11 = 0 THEN (ARRAY['CreateAPIKey', 'UpdateUser', 'DeletePolicy', 'ListUsers'])[1 + g %% 4]
                     ELSE 'Method' || (g %% 37) END,
                jsonb_build_array(jsonb_build_object('type', 'instance_server', 'id', md5(g::text),
                    'name', 'server-' || (g %% 5000), 'instance_server_info', jsonb_build_object('state', 'running'))),
                md5((g * 7)::text), '{{}}'::jsonb,
                CASE WHEN g %% 29 = 0 THEN 403 ELSE 200 END
            FROM generate_series(1, %(events)s) g
            """,
            {"end": END, "spacing": SPACING, "events": EVENTS},
        )
        cursor.execute("ANALYZE audit_event")


class _Queries:
    def __init__(self) -> None:
        self.sql: list[tuple[str, Any]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.sql.append((sql, params))
        return execute(sql, params, many, context)


def _event_scans(call: Any) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """The scans of audit_event's partitions in the plans of the queries `call` makes:
    (node type, partition, index) each; and the queries' SQL."""
    queries = _Queries()
    with connection.execute_wrapper(queries):
        call()
    scans: list[tuple[str, str, str | None]] = []
    # A partition that holds no row (next month's, the default) costs nothing however it is read.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_event'::regclass AND c.reltuples > 0"
        )
        populated = {row[0] for row in cursor.fetchall()}
    statements = [sql for sql, _ in queries.sql if "audit_event" in sql]
    assert statements, "no query of the events"
    for sql, params in queries.sql:
        if "audit_event" not in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            raw = cursor.fetchone()[0]

        def walk(node: dict[str, Any]) -> None:
            relation, index = node.get("Relation Name", ""), node.get("Index Name") or ""
            if relation in populated:
                scans.append((node["Node Type"], relation, index))
            elif node["Node Type"] == "Bitmap Index Scan" and index.startswith("audit_event_p"):
                scans.append((node["Node Type"], "", index))
            for child in node.get("Plans", []):
                walk(child)

        walk((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])
    return scans, statements


def _assert_index_driven(call: Any) -> list[tuple[str, str, str | None]]:
    scans, statements = _event_scans(call)
    assert scans, statements
    sequential = [s for s in scans if s[0] == "Seq Scan"]
    assert not sequential, f"sequential scan of {sequential} in {statements}"
    bitmap_partitions = {relation for node, relation, _ in scans if node == "Bitmap Heap Scan"}
    assert len(bitmap_partitions) <= 1, f"bitmap scan over {sorted(bitmap_partitions)} in {statements}"
    return scans


def _query(hours: int, **filters: Any) -> EventQuery:
    return EventQuery(
        region="fr-par", recorded_after=END - timedelta(hours=hours), recorded_before=END, **filters
    )


# Every list filter of the Events page, a window for each that the filter's own index serves, and
# what that index's partition copies are named after (their key columns or expression): without
# it the planner would read the window's range of the organization's events, row by row.
FILTERS: dict[str, tuple[EventQuery, str]] = {
    "region and window": (_query(24), "organization_id_region_recorded_at_id"),
    # The timeline's whole hours come from audit_event_rollup, its edges from the index.
    "region and 30 days": (_query(24 * 30), "organization_id_region_recorded_at_id"),
    "+ project": (_query(24, project_id=PROJECT), "organization_id_project_id"),
    "+ principal": (_query(24 * 7, principal_id=PRINCIPAL), "organization_id_principal_id"),
    "+ method": (_query(24 * 7, method_name="Method5"), "organization_id_method_name"),
    "+ status": (_query(24 * 7, status=403), "organization_id_region_recorded_at"),
    "+ CIDR": (_query(24 * 7, source_ip="10.21.0.0/16"), "organization_id_source_ip"),
    "+ IP": (_query(24 * 7, source_ip="10.21.3.4"), "organization_id_source_ip"),
    "+ free text": (_query(24 * 20, text="server-4242"), "_lower_idx"),  # audit_event_search_trgm
    # Every principal of this trail is unknown to the console: the name recorded with the event
    # matches (for a viewer who may see it), through audit_event_principal_name_trgm.
    "+ free text, a former principal's name": (_query(24 * 20, text="user21@"), "_upper_idx"),
    "+ project, method and status": (
        _query(24 * 7, project_id=PROJECT, method_name="Method5", status=200),
        "organization_id_",
    ),
}


def _filter_plans() -> None:
    for name, (query, index) in FILTERS.items():
        qs = event_queryset(organization_id=ORG, query=query, recorded_names=True)
        page = partial(event_page, qs, page_size=50, numbered=True)
        timeline = partial(
            event_timeline,
            qs,
            organization_id=ORG,
            query=query,
            start=query.recorded_after,
            end=query.recorded_before,
        )
        try:
            for call in (page, timeline):
                scans = _assert_index_driven(call)
                assert any(index in (used or "") for _, _, used in scans), f"{index} unused: {scans}"
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from None


def _keyset_plan() -> None:
    query = _query(24 * 7)
    qs = event_queryset(organization_id=ORG, query=query)
    cursor = event_page(qs, page_size=50, numbered=True).next_cursor
    for _ in range(5):  # page 7 of the week
        assert cursor is not None
        cursor = event_page(qs, cursor=cursor, page_size=50, numbered=True).next_cursor
    assert isinstance(cursor, Cursor) and cursor.index == 6 * 50 - 1
    scans = _assert_index_driven(lambda: event_page(qs, cursor=cursor, page_size=50, numbered=True))
    assert {index for _, _, index in scans if index} and all(
        "organization_id_region_recorded_at_id" in index for _, _, index in scans if index
    ), scans


def _iam_log_plans() -> None:
    """The IAM logs are not windowed: they read every month's partition, through the partial index
    that holds nothing but their entries (a bitmap of those few entries is fine), never the table."""

    def check(call: Any) -> None:
        scans, statements = _event_scans(call)
        assert not [s for s in scans if s[0] == "Seq Scan"], (scans, statements)
        assert {index for _, _, index in scans if index}, scans
        assert all("organization_id_recorded_at_id" in index for _, _, index in scans if index), scans

    check(lambda: list(iam_log_events(organization_id=ORG)[:50]))
    args = {"page": 2, "page_size": 20}
    check(lambda: _page_and_total(iam_log_events(organization_id=ORG, ascending=True), args))
    # The API's page and its total: one statement.
    queries = _Queries()
    with connection.execute_wrapper(queries):
        rows, total = _page_and_total(iam_log_events(organization_id=ORG, ascending=True), args)
    assert len(queries.sql) == 1
    assert len(rows) == 20 and total == iam_log_events(organization_id=ORG).count() > 40


def test_every_list_filter_the_keyset_page_and_the_iam_logs_are_index_driven():
    """One trail for every check: loading it is most of the test's time."""
    _load_trail()
    _filter_plans()
    _keyset_plan()
    _iam_log_plans()
