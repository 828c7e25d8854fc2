"""The Events page stays fast on a big trail: its queries are index-driven (`manage.py bench_events`
has the numbers on a million events; these tests pin the plans and the counts that made them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from audit.partitions import ensure_partitions
from audit.selectors import EventQuery, event_facets, event_queryset, event_timeline
from audit.services import record_many
from core.paging import event_page
from tests.audit.conftest import actor_for, make_events

POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL-only: plans, partitions, the benchmark")
END = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class _Queries:
    def __init__(self) -> None:
        self.sql: list[tuple[str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        self.sql.append((sql, params))
        return execute(sql, params, many, context)


def _plan(call, *, subplan: str | None = None) -> tuple[set[str], set[str], set[str]]:
    """(node types, parent index names, partitions) of the one query of the events that `call`
    makes (naming principals reads other tables), planned with
    sequential scans, bitmaps and sorts off: on a test-sized table they win, on a big one they
    lose. So the plan shows whether an index can serve the query, in its order, on its own."""
    queries = _Queries()
    with connection.execute_wrapper(queries):
        call()
    [(sql, params)] = [(sql, params) for sql, params in queries.sql if "audit_event" in sql]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")  # statistics of these rows, not of an earlier test's
        for method in ("seqscan", "bitmapscan", "sort"):
            cursor.execute(f"SET LOCAL enable_{method} = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        raw = cursor.fetchone()[0]
        cursor.execute(
            "SELECT child.relname, parent.relname FROM pg_inherits i JOIN pg_class child "
            "ON child.oid = i.inhrelid JOIN pg_class parent ON parent.oid = i.inhparent"
        )
        parents = dict(cursor.fetchall())
    nodes, indexes, partitions = set(), set(), set()

    def walk(node):
        nodes.add(node["Node Type"])
        if "Index Name" in node:
            indexes.add(parents.get(node["Index Name"], node["Index Name"]))
        if "Relation Name" in node:
            partitions.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    def find(node):  # the part of the plan named `subplan` (a CTE), or the whole plan
        if node.get("Subplan Name") == subplan:
            return node
        return next(filter(None, (find(child) for child in node.get("Plans", []))), None)

    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    walk(find(plan) if subplan else plan)
    return nodes, indexes, partitions


def _window(acme, hours: int, **filters):
    query = EventQuery(
        region="fr-par", recorded_after=END - timedelta(hours=hours), recorded_before=END, **filters
    )
    return event_queryset(organization_id=acme.pk, query=query), query


@pytest.fixture
def trail(acme, owner):
    """Events an hour apart over two days, one in four refused, and three on bucket edges."""
    ensure_partitions(today=END.date(), months_back=1)
    events = make_events(acme, 48, actor=actor_for(owner), minutes_ago=0, spacing=timedelta(seconds=1))
    for i, event in enumerate(events):
        event.recorded_at = END - timedelta(hours=i, minutes=7)
        event.status_code = 403 if i % 4 == 0 else 200
    events[1].recorded_at = END - timedelta(hours=12)  # exactly where a 30-minute bucket starts
    events[2].recorded_at = END - timedelta(hours=24)  # the window's first instant
    events[3].recorded_at = END  # its last
    record_many(events)
    return events


def test_the_timeline_counts_every_event_and_403_of_its_bucket_edges_included(acme, trail):
    qs, query = _window(acme, 24)
    timeline = event_timeline(qs, organization_id=acme.pk, query=query, start=query.recorded_after, end=END)
    expected: dict[datetime, list[int]] = {}
    for event in trail:
        if query.recorded_after <= event.recorded_at < END:  # the window's end starts a bucket of its own
            bucket = next(b for b in timeline.buckets if b.start <= event.recorded_at < b.end)
            counts = expected.setdefault(bucket.start, [0, 0])
            counts[0] += 1
            counts[1] += event.status_code == 403
    assert {b.start: [b.total, b.denied] for b in timeline.buckets if b.total} == expected
    assert timeline.width == timedelta(minutes=30) and timeline.total == 23


def test_a_filtered_timeline_counts_only_the_matching_events(acme, trail):
    qs, query = _window(acme, 24, status=403)
    timeline = event_timeline(qs, organization_id=acme.pk, query=query, start=query.recorded_after, end=END)
    assert (timeline.total, timeline.denied) == (6, 6)


@postgres_only
def test_the_first_page_walks_the_org_time_index_of_the_windows_partition_only(acme, trail):
    qs, _ = _window(acme, 1)
    nodes, indexes, partitions = _plan(lambda: event_page(qs))
    assert indexes == {"audit_event_org_time_idx"}
    assert "Sort" not in nodes  # the index hands the rows over newest first: LIMIT stops early
    assert partitions == {f"audit_event_p{END:%Y_%m}"}


@postgres_only
@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        # Half-hour buckets: one count of the index per bucket.
        (24, {"audit_event_org_time_idx"}),
        # 20 days, within the month of the trail: its whole hours from the rollup's covering
        # index (its counts INCLUDEd, migration 0010), its edges from the index. An empty partition costs nothing whichever index reads it, and
        # its planner ties with the primary key, which holds organization_id and recorded_at too
        # (`manage.py bench_events` shows the org-time index on every partition).
        (24 * 20, {"audit_event_org_time_idx", "audit_event_rollup_counts"}),
    ],
)
def test_the_unfiltered_timeline_counts_from_indexes_alone(acme, trail, hours, expected):
    qs, query = _window(acme, hours)
    nodes, indexes, _ = _plan(
        lambda: event_timeline(qs, organization_id=acme.pk, query=query, start=query.recorded_after, end=END)
    )
    assert indexes == expected
    assert "Index Only Scan" in nodes and not nodes & {"Seq Scan", "Sort", "Bitmap Heap Scan"}


@postgres_only
def test_the_facets_of_refused_events_count_from_the_refused_index_alone(acme, trail):
    # Refused events lie a table page apart: reading the facets' sample from the table cost the
    # "30 days, 403s" Events page most of what its facets add (`manage.py bench_events`).
    qs, _ = _window(acme, 24 * 20, status=403)
    facets = event_facets(qs, organization=acme)
    assert facets.sampled == 12 and [(s.value, s.count) for s in facets.statuses] == [("403", 12)]
    nodes, indexes, _ = _plan(lambda: event_facets(qs, organization=acme), subplan="CTE facet_sample_all")
    assert indexes == {"audit_event_refused_idx"}
    # In the list's order, newest first and by id: no sort before the sample's LIMIT.
    assert "Index Only Scan" in nodes and not nodes & {"Index Scan", "Seq Scan", "Sort", "Incremental Sort"}
