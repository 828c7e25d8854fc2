"""ListLogs' total_count, unfiltered but for dates, reads the per-hour counts the door keeps
(`EventRollup.iam_logs`, `iam.logs.iam_log_count`): always what counting the entries gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from audit.models import Event, EventRollup
from audit.services import Actor, build_event, record, record_many
from iam.logs import iam_log_count, iam_log_events
from iam.models import Organization
from tests.api.conftest import ApiClient, api_key_for

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
EDGE = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def _event(organization, at, *, method="CreateGroup", product="iam", status=200):
    return build_event(
        organization_id=organization.pk,
        actor=Actor.system(),
        product_name=product,
        service_name=f"scaleway.{product}.v1alpha1.Api",
        method_name=method,
        locality="global" if product == "iam" else "fr-par",
        status_code=status,
        resources=[{"id": "r-1", "type": "iam_group"}],
        recorded_at=at,
    )


@pytest.fixture
def trail(acme, outsider):
    """Entries and non-entries over three days, some a microsecond either side of an hour, some
    arriving late (an older recorded_at after newer ones), and another organization's."""
    rng = random.Random(14)
    moments = [EDGE - MICRO, EDGE, EDGE + MICRO, NOW - timedelta(days=3), NOW - MICRO]
    moments += [NOW - timedelta(seconds=rng.randrange(3 * 86400)) for _ in range(150)]
    kinds = [
        {},
        {"method": "DeleteAPIKey"},
        {"method": "ListGroups"},  # an IAM read: not an entry
        {"status": 403},  # refused: not an entry
        {"product": "secret-manager", "method": "CreateSecret"},
    ]
    events = [_event(acme, at, **rng.choice(kinds)) for at in moments]
    events[:3] = [_event(acme, at) for at in moments[:3]]
    record_many(events[:100])
    record_many(events[100:][::-1])  # late: older hours than the batch before reached
    event = events[0]
    record(  # the single door counts too
        organization_id=acme.pk,
        actor=Actor.system(),
        product_name="iam",
        service_name="scaleway.iam.v1alpha1.Api",
        method_name="UpdatePolicy",
        locality="global",
        recorded_at=event.recorded_at,
    )
    globex = Organization.objects.get(name="Globex")
    record_many([_event(globex, at) for at in moments[:20]])  # the same hours, another organization
    return acme


WINDOWS = [
    (None, None),
    (EDGE, None),
    (None, EDGE),
    (EDGE - MICRO, EDGE + MICRO),
    (EDGE + MICRO, EDGE + timedelta(minutes=30)),  # within one hour
    (EDGE - timedelta(minutes=30), EDGE + timedelta(minutes=30)),  # two partial hours
    (EDGE + MICRO, NOW - MICRO),
    (NOW - timedelta(days=2, minutes=17), NOW - timedelta(hours=5, seconds=1)),
    (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    (datetime(9999, 12, 31, 23, 30, tzinfo=UTC), None),  # no whole hour after it
    (NOW, EDGE),  # reversed: nothing
]


@pytest.mark.parametrize(("after", "before"), WINDOWS)
def test_the_count_is_the_entries_counted(trail, after, before):
    expected = iam_log_events(organization_id=trail.pk, created_after=after, created_before=before).count()
    assert iam_log_count(organization_id=trail.pk, created_after=after, created_before=before) == expected


def test_the_hours_hold_the_entries_and_nothing_else(trail):
    assert sum(EventRollup.objects.filter(organization_id=trail.pk).values_list("iam_logs", flat=True)) == (
        iam_log_events(organization_id=trail.pk).count()
    )
    assert (
        iam_log_events(organization_id=trail.pk).count()
        < Event.objects.filter(organization_id=trail.pk).count()
    )


def test_list_logs_answers_that_total(trail, owner, django_assert_max_num_queries):
    api = ApiClient(api_key_for(owner, trail)[1])
    for after, before in WINDOWS[:8]:
        params = {"page_size": 5} | ({"created_after": after.isoformat()} if after else {})
        params |= {"created_before": before.isoformat()} if before else {}
        body = api.get("/iam/v1alpha1/logs", params).json()
        expected = iam_log_events(
            organization_id=trail.pk, created_after=after, created_before=before
        ).count()
        assert body["total_count"] == expected, (after, before)
        assert len(body["logs"]) == min(5, expected)
