"""A free-text search shows its rows at once and counts its matches after (issue 14, part 4): no
index counts trigram matches, so the Events page asks for its timeline and total in a request of
its own (`audit:event_timeline`), which answers with the chart and, out of band, the total."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.services import record_many
from tests.audit.conftest import HX_RESULTS, actor_for, make_events

pytestmark = pytest.mark.django_db

URL = reverse("audit:events")
TIMELINE = reverse("audit:event_timeline")
HX = {"HX-Request": "true", "HX-Target": "timeline"}
ROW = re.compile(r'<tr [^>]*data-event-id="([0-9a-f-]+)"')


@pytest.fixture
def matches(acme, owner):
    """70 events that a search for "db-password" finds (two pages), and 5 it does not."""
    record_many(make_events(acme, 70, actor=actor_for(owner), minutes_ago=2))
    record_many(
        make_events(
            acme,
            5,
            actor=actor_for(owner),
            minutes_ago=3,
            request_body={},
            resources=[{"id": "r-1", "type": "secret_manager_secret", "name": "other"}],
            method_name="ListSecrets",
        )
    )


def test_a_search_lists_its_rows_and_asks_for_its_counts(auditor_client, matches, django_assert_num_queries):
    from tests.audit.test_event_list import LIST_QUERIES

    with django_assert_num_queries(LIST_QUERIES):  # no count: the page never scans every match
        html = auditor_client.get(URL, {"q": "db-password"}, headers=HX_RESULTS).content.decode()
    assert len(ROW.findall(html)) == 50
    assert f'hx-get="{TIMELINE}?q=db-password"' in html
    assert "<strong>Counting</strong> matching events…" in html
    assert "<figure" not in html
    assert "Events 1–50</span>" in html  # the pager leaves the total out until it is counted


def test_the_counts_request_gives_the_chart_and_the_total_out_of_band(auditor_client, matches):
    response = auditor_client.get(TIMELINE, {"q": "db-password"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<figure id="timeline"')
    bars = re.findall(r"<title>[^<]*: (\d+) events?", html)
    assert sum(map(int, bars)) == 70
    assert re.search(r'<span id="events-total" hx-swap-oob="true"><strong>70</strong> events</span>', html)
    assert "<tr" not in html  # the rows are the page's


def test_without_a_search_the_page_counts_as_before(auditor_client, matches):
    html = auditor_client.get(URL, headers=HX_RESULTS).content.decode()
    assert TIMELINE not in html
    assert '<figure id="timeline"' in html
    assert '<span id="events-total"><strong>75</strong> events</span>' in html


def test_a_search_without_a_match_says_so_at_once(auditor_client, matches):
    html = auditor_client.get(URL, {"q": "nothing-like-this"}, headers=HX_RESULTS).content.decode()
    assert TIMELINE not in html
    assert "<strong>0</strong> events" in html


def test_without_script_the_counts_link_is_the_page_counted(auditor_client, matches):
    html = auditor_client.get(TIMELINE, {"q": "db-password"}).content.decode()
    assert "<html" in html and len(ROW.findall(html)) == 50
    assert '<figure id="timeline"' in html
    assert '<span id="events-total"><strong>70</strong> events</span>' in html
    assert 'href="/audit-trail/events/?' in html  # its links lead back to the Events page


def test_the_counts_keep_to_the_organization_and_the_permission(
    outsider_client, member_client, auditor_client, matches
):
    html = outsider_client.get(TIMELINE, {"q": "db-password"}, headers=HX).content.decode()
    assert "<figure" not in html and "<strong>0</strong> events" in html
    assert member_client.get(TIMELINE, {"q": "db-password"}, headers=HX).status_code == 403


def test_invalid_filters_count_nothing(auditor_client, matches):
    response = auditor_client.get(TIMELINE, {"q": "db-password", "ip": "not-an-ip"}, headers=HX)
    assert response.status_code == 200
    assert "<figure" not in response.content.decode() and "<strong>" not in response.content.decode()


def test_an_ip_network_counts_after_its_rows_and_a_single_address_with_them(auditor_client, matches):
    network = auditor_client.get(URL, {"ip": "212.133.41.0/24"}, headers=HX_RESULTS).content.decode()
    assert len(ROW.findall(network)) == 50
    assert f'hx-get="{TIMELINE}?ip=212.133.41.0%2F24"' in network and "<figure" not in network
    counts = auditor_client.get(TIMELINE, {"ip": "212.133.41.0/24"}, headers=HX).content.decode()
    assert '<span id="events-total" hx-swap-oob="true"><strong>75</strong> events</span>' in counts
    single = auditor_client.get(URL, {"ip": "212.133.41.37"}, headers=HX_RESULTS).content.decode()
    assert TIMELINE not in single and '<span id="events-total"><strong>75</strong> events</span>' in single
