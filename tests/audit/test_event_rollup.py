"""The per-hour counts (`EventRollup`) that the door keeps and the unfiltered timeline reads: the
timeline they give is the one the index gives, for any window and any late event."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit import selectors
from audit.models import Event, EventRollup
from audit.partitions import ensure_partitions
from audit.selectors import EventQuery, event_queryset, event_timeline
from audit.services import Actor, build_event, event_row, rebuild_rollup, record, record_many
from tests.audit.conftest import actor_for, make_events
from tests.factories import OrganizationFactory

BASE = datetime(2026, 11, 10, tzinfo=UTC)
SPAN = timedelta(days=6)  # where the events fall
SECRET = {
    "product_name": "secret-manager",
    "service_name": "scaleway.secret_manager.v1beta1.Api",
    "method_name": "CreateSecret",
}


@pytest.fixture(autouse=True)
def _partitions(db):
    ensure_partitions(today=(BASE + SPAN).date(), months_back=2)


def _event(organization_id, *, at: datetime, status_code: int = 200, locality: str = "fr-par") -> Event:
    return build_event(
        organization_id=organization_id,
        actor=Actor.system(),
        recorded_at=at,
        status_code=status_code,
        locality=locality,
        **SECRET,
    )


def _rollup(organization_id) -> dict[tuple[str, datetime], tuple[int, int]]:
    return {
        (r.region, r.hour): (r.events, r.refused)
        for r in EventRollup.objects.filter(organization_id=organization_id)
    }


def _counted_from_events(organization_id) -> dict[tuple[str, datetime], tuple[int, int]]:
    """What the rollup must hold: every stored event of the organization, counted per hour."""
    counts: Counter[tuple[str, datetime, bool]] = Counter()
    for region, at, status in Event.objects.filter(organization_id=organization_id).values_list(
        "region", "recorded_at", "status_code"
    ):
        counts[(region, at.replace(minute=0, second=0, microsecond=0), status == 403)] += 1
    return {
        (region, hour): (
            counts[(region, hour, False)] + counts[(region, hour, True)],
            counts[(region, hour, True)],
        )
        for region, hour, _ in counts
    }


# --- the door keeps it --------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_path_of_the_door_counts_its_events_in_their_hour(acme):
    hour = BASE + timedelta(hours=5)
    record_many(
        [
            _event(acme.pk, at=hour + timedelta(minutes=m), status_code=403 if m == 1 else 200)
            for m in (0, 1, 59)
        ]
    )
    record(
        organization_id=acme.pk,
        actor=Actor.system(),
        recorded_at=hour + timedelta(hours=1),
        locality="nl-ams",
        **SECRET,
    )
    # Rows as ingestion builds them, the organization spelled as text.
    row = event_row(
        id=uuid.uuid4(),
        recorded_at=hour + timedelta(minutes=30, microseconds=1),
        organization_id=str(acme.pk),
        project_id=None,
        locality="fr-par-1",
        principal_type="system",
        principal_id=None,
        principal_name="",
        source_ip=None,
        user_agent="",
        request_id="",
        request_body=None,
        resources=[],
        status_code=403,
        **SECRET,
    )
    record_many([row, row._replace(id=uuid.uuid4(), organization_id=acme.pk)])
    assert _rollup(acme.pk) == {
        ("fr-par", hour): (5, 3),
        ("nl-ams", hour + timedelta(hours=1)): (1, 0),
    }


@pytest.mark.django_db
def test_a_late_event_adds_to_its_own_hour_and_a_retried_batch_adds_nothing(acme):
    now = BASE + timedelta(days=3, minutes=10)
    record_many([_event(acme.pk, at=now)])
    late = [_event(acme.pk, at=BASE + timedelta(hours=2, minutes=40), status_code=403)]
    assert record_many(late) == late
    again = [_event(acme.pk, at=late[0].recorded_at, status_code=403)]
    again[0].id = late[0].id
    assert record_many(again) == []
    assert _rollup(acme.pk) == {
        ("fr-par", BASE + timedelta(days=3)): (1, 0),
        ("fr-par", BASE + timedelta(hours=2)): (1, 1),
    }


@pytest.mark.django_db
def test_a_batch_that_fails_leaves_no_count_behind(acme):
    events = [_event(acme.pk, at=BASE + timedelta(minutes=i)) for i in range(3)]

    def validated():
        yield from events[:2]
        raise ValueError("bad event")

    with pytest.raises(ValueError):
        record_many(validated(), keys=[(acme.pk, e.id) for e in events])
    assert not EventRollup.objects.exists()


@pytest.mark.django_db
def test_rebuilding_recounts_what_the_events_table_holds(acme):
    globex = OrganizationFactory()
    record_many(
        [
            _event(o.pk, at=BASE + timedelta(hours=h), status_code=403 if h % 3 else 200)
            for o in (acme, globex)
            for h in range(7)
        ]
    )
    expected = {o.pk: _rollup(o.pk) for o in (acme, globex)}
    EventRollup.objects.filter(organization_id=acme.pk).update(events=0)
    rebuild_rollup()
    assert {o.pk: _rollup(o.pk) for o in (acme, globex)} == expected
    assert expected[acme.pk] == _counted_from_events(acme.pk)


# --- the timeline reads it ----------------------------------------------------------------------


def _index_timeline(qs, **kwargs):
    with mock.patch.object(selectors, "_whole_hours", return_value=None):
        return event_timeline(qs, **kwargs)


moments = st.integers(min_value=0, max_value=int(SPAN.total_seconds()) * 1_000_000).map(
    lambda us: BASE + timedelta(microseconds=us)
)
batches = st.lists(
    st.lists(
        st.tuples(moments, st.sampled_from([200, 403, 500]), st.sampled_from(["fr-par", "nl-ams"])),
        max_size=30,
    ),
    max_size=4,
)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=batches,
    start=moments.map(lambda m: m - timedelta(days=1)),
    span=st.integers(min_value=1, max_value=40 * 86400 * 1000).map(lambda ms: timedelta(milliseconds=ms)),
)
@example(batches=[[(BASE + timedelta(hours=2), 403, "fr-par")]], start=BASE, span=timedelta(days=2))
@example(batches=[[(BASE + timedelta(hours=49), 200, "fr-par")]], start=BASE, span=timedelta(hours=49))
def test_the_rollup_timeline_is_the_index_timeline_over_any_window_and_late_events(batches, start, span):
    """Batches of events anywhere in six days, in any order (each later batch's events as late as
    they come), and any window: whole hours from the rollup plus its edges from the index count
    what the index alone counts, bucket by bucket. Each example has an organization of its own;
    another organization's events (same hours) must not count."""
    organization, neighbour = OrganizationFactory(), OrganizationFactory()
    for batch in batches:
        record_many([_event(organization.pk, at=at, status_code=s, locality=r) for at, s, r in batch])
        record_many([_event(neighbour.pk, at=at, status_code=403) for at, _, _ in batch[:3]])
    end = start + span
    query = EventQuery(region="fr-par", recorded_after=start, recorded_before=end)
    qs = event_queryset(organization_id=organization.pk, query=query)
    arguments = {"organization_id": organization.pk, "query": query, "start": start, "end": end}
    rolled = event_timeline(qs, **arguments)
    assert rolled.buckets == _index_timeline(qs, **arguments).buckets
    stored = [
        (at, s)
        for batch in batches
        for at, s, r in batch
        if r == "fr-par" and start <= at <= end and at < rolled.buckets[-1].end
    ]
    assert (rolled.total, rolled.denied) == (len(stored), sum(s == 403 for _, s in stored))
    assert _rollup(organization.pk) == _counted_from_events(organization.pk)


@pytest.mark.django_db
def test_a_thirty_day_timeline_reads_the_rollup_for_its_whole_hours(acme, django_assert_num_queries):
    end = BASE + timedelta(days=5, minutes=17, seconds=3)
    start = end - timedelta(days=30)
    record_many([_event(acme.pk, at=end - timedelta(hours=h, minutes=1)) for h in range(0, 24 * 40, 5)])
    query = EventQuery(region="fr-par", recorded_after=start, recorded_before=end)
    qs = event_queryset(organization_id=acme.pk, query=query)
    # The rollup says otherwise than the events for one whole hour: the timeline shows the rollup's.
    EventRollup.objects.filter(organization_id=acme.pk, hour=BASE).update(events=1000)
    with django_assert_num_queries(1):
        timeline = event_timeline(qs, organization_id=acme.pk, query=query, start=start, end=end)
    assert timeline.width == timedelta(hours=12)
    assert (
        timeline.total
        == _index_timeline(qs, organization_id=acme.pk, query=query, start=start, end=end).total + 999
    )


# --- the page's count ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cap", "summary"), [(10_000, "<strong>1,234</strong> events"), (100, "<strong>100+</strong> events")]
)
def test_the_30_day_page_counts_every_event_late_ones_included(
    auditor_client, acme, owner, monkeypatch, cap, summary
):
    """The page's total is its timeline's, whole hours from the rollup: exact under the cap, and
    past it "N+" with about how many."""
    monkeypatch.setattr("audit.views.EXACT_COUNT_CAP", cap)
    ensure_partitions(months_back=2)
    events = make_events(acme, 1234, actor=actor_for(owner), minutes_ago=1, spacing=timedelta(minutes=29))
    record_many(events[:600])  # the newest first, then the older ones as late arrivals
    assert len(record_many(events[600:])) == 634
    html = auditor_client.get(reverse("audit:events"), {"range": "30d"}).content.decode()
    assert summary in html
    if cap == 100:
        assert "(about 1,200)" in html
