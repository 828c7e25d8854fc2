"""The Events page's top values (facets): the page renders the folded panel's summary, its grid
comes in a request of its own (`event_facet_list`), so the page never waits for it (issue 10)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.selectors import EventQuery, event_facets, event_queryset, facet_scan_bound
from audit.services import record_many
from tests.audit.conftest import API_KEY, HX_RESTORE, HX_RESULTS, actor_for, make_events

EVENTS = reverse("audit:events")
URL = reverse("audit:event_facets")
HX_FACETS = {"HX-Request": "true", "HX-Target": "facet-grid"}  # the panel's own request
ROW = re.compile(r'<tr [^>]*data-event-id="([0-9a-f-]+)"')


def facet(html: str, name: str) -> str:
    return html.split(f'data-facet="{name}"')[1].split("</ul>")[0]


def links(fragment: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'<a class="facet-value" href="([^"]+)"', fragment)]


def panel(html: str) -> str:
    return html.split('<details id="facets"')[1].split("</details>")[0]


def test_the_events_page_never_waits_for_the_facets(auditor_client, acme_events):
    """The page (and its results region) runs no facet query: it renders the panel's summary and
    a placeholder that asks the facets URL, with the page's own filters, for the grid."""
    for headers in ({}, HX_RESULTS):
        with CaptureQueriesContext(connection) as queries:
            html = auditor_client.get(
                EVENTS, {"status": "403", "range": "24h"}, headers=headers
            ).content.decode()
        assert not [q["sql"] for q in queries if "facet_sample" in q["sql"]]
        placeholder = panel(html)
        assert "Top values" in placeholder and "Counting top values…" in placeholder
        assert f'hx-get="{URL}?status=403&amp;range=24h"' in placeholder
        assert 'data-facet="principals"' not in html
    # What the placeholder asks for: the grid of those filters, and the summary's scope.
    with CaptureQueriesContext(connection) as queries:
        grid = auditor_client.get(URL, {"status": "403", "range": "24h"}, headers=HX_FACETS).content.decode()
    assert [q for q in queries if "facet_sample" in q["sql"]]
    assert 'data-facet="principals"' in grid and "<html" not in grid
    assert 'id="facets-scope"' in grid and 'hx-swap-oob="true"' in grid and "in these 2 events" in grid


def test_the_facets_are_folded_until_the_reader_unfolds_them_and_stay_as_left(auditor_client, acme_events):
    """Folded, the first events stay on an 800-px screen and the grid is asked for on the first
    unfolding; unfolded (events.js keeps the choice in a cookie), every page renders the panel
    open and asks for the grid as soon as it is in, so nothing jumps."""
    folded = auditor_client.get(EVENTS, {"range": "24h"}).content.decode()
    assert '<details id="facets" class="facets card" hx-boost="false">' in folded
    assert 'hx-trigger="toggle once from:#facets, facets-retry"' in panel(folded)
    auditor_client.cookies["facets"] = "open"
    unfolded = auditor_client.get(EVENTS, {"range": "24h"}).content.decode()
    assert '<details id="facets" class="facets card" hx-boost="false" open>' in unfolded
    assert 'hx-trigger="load, facets-retry"' in panel(unfolded)
    partial = auditor_client.get(EVENTS, {"status": "200"}, headers=HX_RESULTS).content.decode()
    assert '<details id="facets" class="facets card" hx-boost="false" open>' in partial
    assert 'hx-trigger="load, facets-retry"' in panel(partial)


def test_facets_count_the_top_values_of_the_filtered_events(auditor_client, acme_events, owner):
    html = auditor_client.get(URL, headers=HX_FACETS).content.decode()
    assert html.lstrip().startswith('<div id="facet-grid"') and "<html" not in html
    principals = facet(html, "principals")
    assert "owner@acme.test" in principals and "terraform-ci" in principals and "Scaleway" in principals
    assert re.search(r"owner@acme\.test</a>\s*<span class=\"facet-count\">6</span>", principals)
    statuses = facet(html, "statuses")
    assert re.search(r"200 Successful\s*</a>\s*<span class=\"facet-count\">11</span>", statuses)
    assert re.search(r"403 Forbidden\s*</a>\s*<span class=\"facet-count\">2</span>", statuses)
    assert "in these 13 events" in html


def test_each_facet_links_to_the_list_with_its_filter_added(auditor_client, acme_events, owner):
    html = auditor_client.get(URL, {"range": "24h", "cursor": ""}, headers=HX_FACETS).content.decode()
    principal_links = links(facet(html, "principals"))
    assert f"{EVENTS}?range=24h&principal={owner.pk}" in principal_links
    assert f"{EVENTS}?range=24h&ip=212.133.41.37" in links(facet(html, "ips"))
    assert f"{EVENTS}?range=24h&product=iam&method=CreateAPIKey" in links(facet(html, "methods"))
    assert f"{EVENTS}?range=24h&product=secret-manager" in links(facet(html, "products"))
    assert f"{EVENTS}?range=24h&status=403" in links(facet(html, "statuses"))
    # Scaleway's actions have no principal to filter by: a value, not a link.
    assert len(principal_links) == 3  # owner, terraform-ci, the former member
    # Following a link gives the list that the facet counted.
    response = auditor_client.get(f"{EVENTS}?range=24h&product=iam&method=CreateAPIKey")
    assert len(ROW.findall(response.content.decode())) == 2


def test_the_filter_already_applied_is_not_a_link(auditor_client, acme_events):
    html = auditor_client.get(URL, {"status": "403"}, headers=HX_FACETS).content.decode()
    assert links(facet(html, "statuses")) == []
    assert "Unknown" in facet(html, "principals")  # the 403s are the former member's


def test_principal_facets_name_principals_as_the_table_does(
    auditor_client, owner_client, acme_events, removed_member
):
    auditor_view = facet(auditor_client.get(URL, headers=HX_FACETS).content.decode(), "principals")
    assert "Unknown" in auditor_view and removed_member.email not in auditor_view
    owner_view = facet(owner_client.get(URL, headers=HX_FACETS).content.decode(), "principals")
    assert f'{removed_member.email}</span> <span class="kind-tag">former member</span>' in owner_view


def test_facets_without_htmx_and_on_history_restore_are_a_page(auditor_client, acme_events):
    """The panel's link without script (and a history restore) open the grid as a page."""
    for headers in ({}, HX_RESTORE):
        html = auditor_client.get(URL, {"status": "403"}, headers=headers).content.decode()
        assert "<html" in html and 'data-facet="principals"' in html
        assert "in these 2 events" in html and "hx-swap-oob" not in html
        assert f'href="{EVENTS}?status=403"' in html  # back to the events
    response = auditor_client.get(URL, headers=HX_FACETS)
    assert "HX-Request" in response["Vary"]


def test_invalid_filters_get_a_clear_answer_and_no_facets(auditor_client, acme_events):
    response = auditor_client.get(URL, {"ip": "not-an-ip", "principal": "x"}, headers=HX_FACETS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Correct the filters to see their top values" in html and "data-facet=" not in html
    page = auditor_client.get(EVENTS, {"ip": "not-an-ip"}).content.decode()
    assert "Correct them to see events" in page and 'id="facets"' not in page


def test_no_events_no_facets(auditor_client, acme_events):
    params = {"principal": str(uuid.uuid4())}
    assert 'id="facets"' not in auditor_client.get(EVENTS, params).content.decode()
    html = auditor_client.get(URL, params, headers=HX_FACETS).content.decode()
    assert "No events match these filters." in html and "data-facet=" not in html


def test_facets_stay_within_the_organization(outsider_client, acme_events, globex_event, outsider):
    html = outsider_client.get(URL, headers=HX_FACETS).content.decode()
    assert outsider.email in facet(html, "principals")
    assert "owner@acme" not in html and "terraform-ci" not in html and "in these 1 event" in html


def test_a_member_without_rights_gets_a_403(member_client, client, acme_events):
    assert member_client.get(URL, headers=HX_FACETS).status_code == 403
    assert member_client.head(URL).status_code == 403
    signed_out = client.get(URL, headers=HX_FACETS)  # to the sign-in page, the whole page
    assert signed_out["HX-Redirect"].startswith(reverse("login"))


def test_the_facets_answer_only_safe_methods(auditor_client, acme_events):
    assert auditor_client.post(URL, headers=HX_FACETS).status_code == 405


def test_facets_count_a_bounded_sample_of_the_newest_events(acme, owner, removed_member):
    record_many(
        make_events(acme, 4, actor=actor_for(owner), minutes_ago=2)
        + make_events(acme, 6, actor=actor_for(removed_member, ip="5.6.7.8"), minutes_ago=5)
    )
    qs = event_queryset(organization_id=acme.pk, query=EventQuery(region="fr-par"))
    facets = event_facets(qs, organization=acme, sample=5)
    assert (facets.sampled, facets.complete) == (5, False)
    assert [(v.value, v.count) for v in facets.principals] == [
        (str(owner.pk), 4),
        (str(removed_member.pk), 1),
    ]
    everything = event_facets(qs, organization=acme)
    assert (everything.sampled, everything.complete) == (10, True)
    assert [(v.value, v.count) for v in everything.ips] == [("5.6.7.8", 6), ("212.133.41.37", 4)]


def test_each_facet_lists_the_most_frequent_first_ties_by_value_and_statuses_by_code(acme, owner):
    """PostgreSQL counts in one pass (grouping sets), SQLite once per facet: the same lists."""
    record_many(
        make_events(acme, 2, actor=actor_for(owner, ip="10.0.0.9"), minutes_ago=2, status_code=403)
        + make_events(acme, 2, actor=actor_for(owner, ip="10.0.0.10"), minutes_ago=4, status_code=403)
        + make_events(
            acme, 2, actor=actor_for(owner, ip="10.0.0.2"), minutes_ago=6, status_code=403, **API_KEY
        )
        + make_events(
            acme, 1, actor=actor_for(owner, ip="9.9.9.9"), minutes_ago=8, method_name="DeleteSecret"
        )
    )
    qs = event_queryset(organization_id=acme.pk, query=EventQuery(region="fr-par"))
    facets = event_facets(qs, organization=acme, limit=2)
    assert [(v.value, v.count) for v in facets.ips] == [("10.0.0.10", 2), ("10.0.0.2", 2)]  # as text
    assert [(v.product, v.value, v.count) for v in facets.methods] == [
        ("secret-manager", "CreateSecret", 4),
        ("iam", API_KEY["method_name"], 2),
    ]
    assert [(v.value, v.count) for v in facets.products] == [("secret-manager", 5), ("iam", 2)]
    assert [(v.value, v.count) for v in facets.statuses] == [("200", 1), ("403", 6)]
    assert [(v.value, v.count) for v in facets.principals] == [(str(owner.pk), 7)]


# session, user, organizations (middleware), membership, rules (permission), projects (the
# filter form), the facets' sample, the principals' names.
FACET_QUERIES = 8


@pytest.mark.parametrize("n", [1, 12])
def test_facets_run_a_constant_number_of_queries(
    auditor_client, acme, owner, removed_member, application, django_assert_num_queries, n
):
    record_many(
        make_events(acme, n, actor=actor_for(owner), minutes_ago=2)
        + make_events(acme, n, actor=actor_for(removed_member), minutes_ago=3)
    )
    with django_assert_num_queries(FACET_QUERIES):
        response = auditor_client.get(URL, headers=HX_FACETS)
    assert f"in these {2 * n} events" in response.content.decode()


def test_facets_say_exactly_how_many_events_they_counted(auditor_client, acme, owner):
    record_many(make_events(acme, 1200, actor=actor_for(owner), minutes_ago=2, spacing=timedelta(seconds=1)))
    html = auditor_client.get(URL, headers=HX_FACETS).content.decode()
    assert "in these 1,200 events" in html
    assert re.search(r"owner@acme\.test</a>\s*<span class=\"facet-count\">1,200</span>", html)


def test_facets_of_a_search_count_its_matches_among_the_windows_newest_events(acme, owner, removed_member):
    record_many(
        make_events(acme, 4, actor=actor_for(owner), minutes_ago=2)
        + make_events(acme, 6, actor=actor_for(removed_member, ip="5.6.7.8"), minutes_ago=5)
    )
    query = EventQuery(region="fr-par", text="db-password")
    assert facet_scan_bound(organization_id=acme.pk, query=EventQuery(region="fr-par")) is None  # indexed
    since = facet_scan_bound(organization_id=acme.pk, query=query, scan=6)
    newest = list(event_queryset(organization_id=acme.pk, query=query).order_by("-recorded_at"))
    assert since == newest[5].recorded_at
    qs = event_queryset(organization_id=acme.pk, query=query)
    facets = event_facets(qs, organization=acme, since=since)
    assert facets.since == since and facets.sampled == 6
    assert [(v.value, v.count) for v in facets.ips] == [("212.133.41.37", 4), ("5.6.7.8", 2)]
    # A window with fewer events than the scan needs no bound.
    assert facet_scan_bound(organization_id=acme.pk, query=query, scan=11) is None


def test_search_facets_name_their_bound(auditor_client, acme_events, monkeypatch):
    monkeypatch.setattr(
        "audit.views.facet_scan_bound", lambda **kw: acme_events.order_by("recorded_at")[3].recorded_at
    )
    html = auditor_client.get(URL, {"q": "secret"}, headers=HX_FACETS).content.decode()
    assert "among the window’s newest 10,000 (since" in unescape(html).replace("'", "’")
