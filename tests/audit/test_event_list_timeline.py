from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.selectors import TIMELINE_MAX_BUCKETS, EventQuery, bucket_width, event_queryset, event_timeline
from audit.services import record_many
from audit.templatetags.audit_extras import count_label, with_offset
from tests.audit.conftest import actor_for, make_events


@pytest.mark.parametrize(
    "span",
    [
        timedelta(hours=1),
        timedelta(hours=24),
        timedelta(days=7),
        timedelta(days=30),
        timedelta(days=90),
        timedelta(seconds=5),
    ],
)
def test_bucket_count_is_bounded_for_any_window(span):
    width = bucket_width(span)
    assert span.total_seconds() / width <= TIMELINE_MAX_BUCKETS


def test_timeline_counts_events_and_403s_per_bucket_in_one_query(acme, owner, django_assert_num_queries):
    end = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    start = end - timedelta(hours=1)
    events = make_events(
        acme, 3, actor=actor_for(owner), minutes_ago=0, spacing=timedelta(seconds=1)
    ) + make_events(
        acme, 2, actor=actor_for(owner), minutes_ago=0, spacing=timedelta(seconds=1), status_code=403
    )
    for event, at in zip(
        events, [end - timedelta(minutes=m, seconds=30) for m in (1, 1, 30, 1, 59)], strict=True
    ):
        event.recorded_at = at
    record_many(events)
    query = EventQuery(region="fr-par", recorded_after=start, recorded_before=end)
    qs = event_queryset(organization_id=acme.pk, query=query)
    with django_assert_num_queries(1):
        timeline = event_timeline(qs, organization_id=acme.pk, query=query, start=start, end=end)
    assert len(timeline.buckets) == 60 and timeline.width == timedelta(minutes=1)
    by_start = {b.start: (b.total, b.denied) for b in timeline.buckets if b.total}
    assert by_start == {
        datetime(2026, 11, 21, 9, 58, tzinfo=UTC): (3, 1),
        datetime(2026, 11, 21, 9, 29, tzinfo=UTC): (1, 0),
        datetime(2026, 11, 21, 9, 0, tzinfo=UTC): (1, 1),
    }
    assert (timeline.total, timeline.denied, timeline.peak) == (5, 2, 3)


def test_timeline_works_with_free_text_search(acme, owner):
    record_many(make_events(acme, 2, actor=actor_for(owner), minutes_ago=1))
    now = timezone.now()
    query = EventQuery(region="fr-par", text="db-password")
    qs = event_queryset(organization_id=acme.pk, query=query)
    assert (
        event_timeline(
            qs, organization_id=acme.pk, query=query, start=now - timedelta(hours=1), end=now
        ).total
        == 2
    )


def test_times_show_with_their_offset_in_the_active_zone():
    at = datetime(2026, 11, 21, 9, 2, 11, 431000, tzinfo=UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        assert with_offset(at) == "2026-11-21 10:02:11 +01:00"
        assert with_offset(at, "ms") == "2026-11-21 10:02:11.431 +01:00"
    with timezone.override(zoneinfo.ZoneInfo("America/St_Johns")):
        assert with_offset(at, "minutes") == "2026-11-21 05:32 -03:30"
    with timezone.override(UTC):
        assert with_offset(at) == "2026-11-21 09:02:11 +00:00"


def test_counts_past_a_thousand_show_as_a_floor():
    assert count_label(999) == "999"
    assert count_label(1000) == "1,000"
    assert count_label(250_000) == "1,000+"


def test_every_filter_but_the_region_and_the_window_narrows_a_query():
    """The timeline counts from the time index alone (PostgreSQL) only for a query that does not
    narrow; it reads that from the query, whatever filters EventQuery grows."""
    filters = {
        "project_id": uuid.uuid4(),
        "product_name": "secret-manager",
        "service_name": "scaleway.secret_manager.v1beta1.Api",
        "method_name": "CreateSecret",
        "status": 403,
        "principal_id": uuid.uuid4(),
        "source_ip": "198.51.100.0/24",
        "resource_type": "secm_secret",
        "resource_id": "r",
        "text": "db-password",
        "request_id": "req",
    }
    now = timezone.now()
    window = EventQuery(region="nl-ams", recorded_after=now - timedelta(days=3), recorded_before=now)
    assert set(filters) == {f.name for f in fields(EventQuery)} - {
        "region",
        "recorded_after",
        "recorded_before",
    }
    assert not window.narrows
    assert not replace(window, text="", status=None).narrows  # empty filters filter nothing
    assert [name for name, value in filters.items() if not replace(window, **{name: value}).narrows] == []


@pytest.mark.parametrize("narrowed", [False, True])
def test_an_event_a_microsecond_either_side_of_a_bucket_edge_counts_in_its_own_bucket(acme, owner, narrowed):
    """Filtered (grouped by date_bin on PostgreSQL) or not, a bucket is [start, end) to the
    microsecond, with the 403s counted apart."""
    end = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    start = end - timedelta(days=2)  # buckets of whole hours
    edge = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    events = make_events(acme, 4, actor=actor_for(owner), minutes_ago=0)
    for event, at in zip(
        events,
        [edge - timedelta(microseconds=1), edge, edge + timedelta(microseconds=1), start],
        strict=True,
    ):
        event.recorded_at = at
    events[1].status_code = 403
    record_many(events)
    query = EventQuery(
        region="fr-par",
        recorded_after=start,
        recorded_before=end,
        method_name="CreateSecret" if narrowed else None,
    )
    qs = event_queryset(organization_id=acme.pk, query=query)
    timeline = event_timeline(qs, organization_id=acme.pk, query=query, start=start, end=end)
    assert timeline.width == timedelta(hours=1)
    counted = {b.start: (b.total, b.denied) for b in timeline.buckets if b.total}
    assert counted == {
        start: (1, 0),
        edge - timedelta(hours=1): (1, 0),  # a microsecond before the edge
        edge: (2, 1),  # on the edge and a microsecond after: the 403 is the one on it
    }
