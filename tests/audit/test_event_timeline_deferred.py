"""A free-text search shows its rows at once and counts its matches after (issue 14, part 4): no
index counts trigram matches, so the Events page asks for its timeline and total in a request of
its own (`audit:event_timeline`), which answers with the chart and, out of band, the total."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import reverse

from audit.services import record_many
from tests.audit.conftest import HX_RESULTS, actor_for, make_events

POSTGRES = connection.vendor == "postgresql"

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


# --- the bound: past TEXT_COUNT_BOUND (NETWORK_COUNT_BOUND) matches, the database's estimate, and every match on request


def test_under_the_bound_the_counts_are_those_of_every_match(acme, matches):
    from audit.selectors import EventQuery, event_queryset, event_timeline

    query = EventQuery(region="fr-par", text="db-password")
    after, before = query.window()
    qs = event_queryset(organization_id=acme.pk, query=query)
    exact = event_timeline(qs, organization_id=acme.pk, query=query, start=after, end=before)
    bounded = event_timeline(qs, organization_id=acme.pk, query=query, start=after, end=before, bound=70)
    assert exact.total == 70 and bounded.more_than is None
    assert bounded.buckets == exact.buckets  # the same buckets, to the event and the 403
    past = event_timeline(qs, organization_id=acme.pk, query=query, start=after, end=before, bound=69)
    assert past.more_than == 69 and past.buckets == []


def test_past_the_bound_the_counts_request_reads_no_more_and_says_more_match(
    auditor_client, matches, monkeypatch
):
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr("audit.views.TEXT_COUNT_BOUND", 50)
    with CaptureQueriesContext(connection) as queries:
        html = auditor_client.get(TIMELINE, {"q": "db-password"}, headers=HX).content.decode()
    counted = [q["sql"] for q in queries if "bucket" in q["sql"]]
    assert len(counted) == 1 and "LIMIT 51" in counted[0]  # 51 matches read, not 70
    assert "<figure" not in html
    assert "More than 50 events match" in html
    assert re.search(r'<span id="events-total" hx-swap-oob="true"><strong>50\+</strong> events', html)
    # Every match counted, when asked: the chart and the exact total.
    exact_url = f"{TIMELINE}?q=db-password&amp;exact=1"
    assert f'hx-get="{exact_url}"' in html and f'href="{exact_url}"' in html
    exact = auditor_client.get(TIMELINE, {"q": "db-password", "exact": "1"}, headers=HX).content.decode()
    assert exact.lstrip().startswith('<figure id="timeline"')
    # Counted on request, the total is the exact one, past the cap too.
    assert '<span id="events-total" hx-swap-oob="true"><strong>70</strong> events</span>' in exact
    # Without script, that link is the Events page, counted exactly.
    page = auditor_client.get(TIMELINE, {"q": "db-password", "exact": "1"}).content.decode()
    assert '<span id="events-total"><strong>70</strong> events</span>' in page and "<figure" in page


def test_past_the_bound_the_total_carries_the_database_estimate_labelled_as_one(
    auditor_client, matches, monkeypatch
):
    monkeypatch.setattr("audit.views.TEXT_COUNT_BOUND", 50)
    monkeypatch.setattr("audit.views.EXACT_COUNT_CAP", 50)
    monkeypatch.setattr("audit.selectors._planned_rows", lambda qs: 68_400)
    html = auditor_client.get(TIMELINE, {"q": "db-password"}, headers=HX).content.decode()
    assert (
        '<strong>50+</strong> events <span class="muted">(about 68,000, estimated by the database)</span>'
        in html
    )
    # An estimate below what was counted says nothing: it is left out.
    monkeypatch.setattr("audit.selectors._planned_rows", lambda qs: 12)
    html = auditor_client.get(TIMELINE, {"q": "db-password"}, headers=HX).content.decode()
    assert "estimate" not in html and "<strong>50+</strong> events</span>" in html


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's planner")
def test_the_estimate_is_the_planners_without_reading_the_rows(acme, matches):
    from audit.selectors import EventQuery, _planned_rows, event_queryset

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")
    qs = event_queryset(organization_id=acme.pk, query=EventQuery(region="fr-par"))
    estimate = _planned_rows(qs)
    assert isinstance(estimate, int) and 1 <= estimate <= 1000  # 75 rows: the planner is near


def test_a_network_counts_further_than_a_search_whose_matches_each_cost_a_row(
    auditor_client, matches, monkeypatch
):
    monkeypatch.setattr("audit.views.TEXT_COUNT_BOUND", 50)
    monkeypatch.setattr("audit.views.NETWORK_COUNT_BOUND", 74)
    network = {"ip": "212.133.41.0/24"}  # all 75 events
    html = auditor_client.get(TIMELINE, network, headers=HX).content.decode()
    assert "More than 74 events match" in html
    monkeypatch.setattr("audit.views.NETWORK_COUNT_BOUND", 75)
    html = auditor_client.get(TIMELINE, network, headers=HX).content.decode()
    assert html.lstrip().startswith('<figure id="timeline"') and "<strong>75</strong> events" in html
    # A search within the network: the search's bound.
    html = auditor_client.get(TIMELINE, network | {"q": "db-password"}, headers=HX).content.decode()
    assert "More than 50 events match" in html
