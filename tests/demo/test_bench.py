"""The benchmarks (`manage.py bench_events`, `bench_seed`) and the one event generator they share
with the demo: exactly the events asked for, in time order, busy when Paris works."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import Event
from demo.events import moments

POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL-only: the benchmark measures its planner")


@pytest.mark.skipif(POSTGRES, reason="SQLite-only: the benchmark refuses it")
def test_the_benchmark_refuses_sqlite_and_says_why():
    with pytest.raises(CommandError, match="measures PostgreSQL"):
        call_command("bench_events", stdout=StringIO())


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_benchmark_loads_the_trail_then_times_and_explains_the_events_page():
    out = StringIO()
    call_command("bench_events", "--events", "2000", "--runs", "1", stdout=out)
    report = out.getvalue()
    assert "Loaded 2,500 events" in report and "VACUUM ANALYZE audit_event" in report
    for case in (
        "first page, last hour",
        "timeline, last 30 days",
        "drawer: event_get",
        "ListEvents, last hour",
    ):
        assert case in report
    # The Events page without and with its facets, side by side, p50 and p95 (issue 10).
    assert "Events page without and with its facets" in report
    # What they add at each: the budget is less than 20%.
    assert re.search(r"^30 days, 403s +(\d+\.\d +){4}-?\d+% +-?\d+% +-?\d+%", report, re.MULTILINE)
    assert "facets: event_facets, 30 days" in report and "search “Unknown”: page, 30 days" in report
    # Which plan a few thousand rows get is the planner's business; that each case is explained is ours.
    assert re.search(r"^- first page, last hour: .+; 1 partition\(s\); \d+ rows", report, re.MULTILINE)
    with pytest.raises(CommandError, match="--reuse"):
        call_command("bench_events", "--events", "2000", "--runs", "1", stdout=StringIO())


@pytest.mark.parametrize("count", [7, 2_500, 12_345])
@pytest.mark.parametrize("minute", [0, 17, 42])
def test_the_benchmark_spreads_exactly_the_events_asked_for_in_time_order(count, minute):
    instants = list(
        moments(random.Random(minute), count, end=datetime(2026, 11, 21, 13, minute, tzinfo=UTC), days=60)
    )
    assert len(instants) == count
    assert instants == sorted(instants)


@pytest.mark.django_db
def test_bench_seed_reports_the_rate_and_leaves_nothing_behind():
    out = StringIO()
    call_command("bench_seed", "--events", "300", "--days", "2", stdout=out)
    assert re.search(r"300 events .+ = [\d,]+ events/s \(rolled back\)\.", out.getvalue())
    assert not Event.objects.exists()


@pytest.mark.skipif(POSTGRES, reason="SQLite-only: the benchmark refuses it")
def test_bench_ingest_refuses_sqlite_and_says_why():
    with pytest.raises(CommandError, match="measures PostgreSQL"):
        call_command("bench_ingest", stdout=StringIO())


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_bench_ingest_compares_ingestion_with_a_raw_copy():
    out = StringIO()
    call_command("bench_ingest", "--batches", "2", "--batch-size", "20", stdout=out)
    report = out.getvalue()
    assert "raw COPY into audit_event" in report
    assert "batch ingestion (service)" in report and "batch ingestion (HTTP API)" in report
