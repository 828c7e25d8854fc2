"""Hostile input on the Events page: any value in any filter of the URL, and any htmx target, is
answered with the page (its form showing what it cannot read), never a server error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from audit import catalogue
from audit.forms import RANGE_LABELS, STATUS_CHOICES
from audit.models import Event
from tests.api.conftest import make_events
from tests.factories import ProjectFactory
from tests.hostile import (
    HOSTILE,
    addresses,
    assert_handled,
    cursors,
    field,
    rolled_back,
    text,
    timestamps,
    uuids,
)

EVENTS = "/audit-trail/events/"
FILTERS = {
    "region": field("fr-par", "nl-ams", "pl-waw"),
    "project": uuids(),
    "range": field(*RANGE_LABELS),
    "after": timestamps(),
    "before": timestamps(),
    "product": field(*(p.name for p in catalogue.PRODUCTS)),
    "method": field("CreateSecret", "DeleteSecret", "CreateAPIKey"),
    "status": field(*(value for value, _ in STATUS_CHOICES)),
    "principal": uuids(),
    "ip": addresses(),
    "resource_type": field(*sorted(catalogue.RESOURCE_TYPES)),
    "resource_id": field("SCWZD3OEQWC9PU77P64O"),
    "q": text(300),
    "request_id": text(100),
    "order": field("-recorded_at", "recorded_at"),
    "cursor": cursors(),
}
HTMX = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {"HX-Request": st.just("true"), "HX-Target": st.sampled_from(["results", "drawer", "x"])}
    ),
    st.just({"HX-Request": "true", "HX-History-Restore-Request": "true"}),
)


# Far west and far east of UTC: year 1 and year 9999 have no local time there.
ZONES = st.sampled_from(["UTC", "Europe/Paris", "Etc/GMT+12", "Pacific/Kiritimati"])
EDGE_EVENTS = [datetime(1, 1, 1, 0, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]


@pytest.fixture
def events_page(owner_client, owner, acme):
    ProjectFactory(organization=acme, name="web-shop")
    make_events(acme, 30)
    for at in EDGE_EVENTS:
        make_events(acme, 1, start=at, method_name="EdgeOfTime")
    return owner_client, owner


def in_zone(user, zone: str) -> None:
    user.time_zone = zone
    user.save(update_fields=["time_zone"])


@pytest.mark.django_db
@HOSTILE
@given(query=st.fixed_dictionaries({}, optional=FILTERS), headers=HTMX, zone=ZONES)
def test_any_filter_values_answer_the_page_never_a_server_error(events_page, caplog, query, headers, zone):
    client, owner = events_page
    with rolled_back(caplog):
        in_zone(owner, zone)
        response = client.get(EVENTS, query, headers=headers)
    assert_handled(response, caplog, allowed=(200,))


@pytest.mark.django_db
@HOSTILE
@given(after=timestamps(), before=timestamps(), range_=st.sampled_from(["custom", ""]), zone=ZONES)
@example(after="2026-11-29T10:00:00+21:00", before="2026-11-29T12:00:00-19:00", range_="custom", zone="UTC")
@example(after="0001-01-01T00:00", before="0001-01-01T01:00", range_="custom", zone="Etc/GMT+12")
@example(after="9999-12-31T23:00", before="", range_="custom", zone="Pacific/Kiritimati")
@example(after="", before="0001-01-01T00:30:00Z", range_="", zone="UTC")
def test_any_custom_range_answers_the_page_or_says_what_is_wrong(
    events_page, caplog, after, before, range_, zone
):
    client, owner = events_page
    with rolled_back(caplog):
        in_zone(owner, zone)
        response = client.get(EVENTS, {"range": range_, "after": after, "before": before})
    assert_handled(response, caplog, allowed=(200,))


@pytest.mark.django_db
@HOSTILE
@given(cursor=cursors(), order=st.sampled_from(["-recorded_at", "recorded_at"]))
def test_a_tampered_page_link_answers_the_page(events_page, caplog, cursor, order):
    client, _ = events_page
    with rolled_back(caplog):
        response = client.get(
            EVENTS, {"cursor": cursor, "order": order}, headers={"HX-Request": "true", "HX-Target": "results"}
        )
    assert_handled(response, caplog, allowed=(200,))


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Etc/GMT+12", "Pacific/Kiritimati"])
def test_events_at_the_edges_of_time_open_in_the_drawer_or_are_not_found(events_page, caplog, zone):
    client, owner = events_page
    in_zone(owner, zone)
    for event in Event.objects.filter(method_name="EdgeOfTime"):
        response = client.get(
            f"/audit-trail/events/{event.pk}/", {"range": "custom", "after": "0001-01-01T00:00"}
        )
        # An event at year 1 gets a UUIDv7 whose wrapped timestamp is far from its recorded_at:
        # the drawer still finds it by its id (issue 8, #14a).
        assert_handled(response, caplog, allowed=(200,))
        caplog.clear()
    for far in ("ffffffff-ffff-7fff-bfff-ffffffffffff", "00000000-0000-7000-8000-000000000000"):
        assert_handled(client.get(f"/audit-trail/events/{far}/"), caplog, allowed=(404,))
        caplog.clear()
