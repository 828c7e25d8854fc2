"""Free-text search on the Events page finds what the table and the drawer show (issue 10, item 15)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.services import Actor, record_many
from tests.audit.conftest import HX_RESULTS, actor_for, make_events
from tests.audit.test_event_facets import FACET_QUERIES, HX_FACETS
from tests.audit.test_event_list import LIST_QUERIES

URL = reverse("audit:events")
ROW = re.compile(r'<tr [^>]*data-event-id="([0-9a-f-]+)"')


def rows(response) -> list[str]:
    return ROW.findall(response.content.decode())


def results(response) -> str:
    return response.content.decode().split('id="results"')[1]


def test_searching_unknown_finds_the_rows_that_show_unknown(auditor_client, acme_events, removed_member):
    response = auditor_client.get(URL, {"q": "unknown"})
    assert len(rows(response)) == 2
    assert results(response).count('<span class="principal principal-unknown">Unknown</span>') == 2


def test_searching_an_ip_finds_its_rows(auditor_client, acme_events):
    assert len(rows(auditor_client.get(URL, {"q": "5.6.7.8"}))) == 2
    assert len(rows(auditor_client.get(URL, {"q": "212.133.41"}))) == 6
    # PostgreSQL's inet would read "5.6.7.8/32" if cast; the table shows the bare address.
    assert len(rows(auditor_client.get(URL, {"q": "/32"}))) == 0


def test_searching_a_user_agent_finds_its_rows(auditor_client, acme_events):
    assert (
        len(rows(auditor_client.get(URL, {"q": "terraform-provider"}))) == 8
    )  # owner's and the former member's


def test_searching_scaleway_finds_the_platform_actions(auditor_client, acme_events):
    response = auditor_client.get(URL, {"q": "scaleway"})
    # The platform's two rows, plus every row whose service name is scaleway.*: all of them.
    assert len(rows(response)) == 13
    response = auditor_client.get(URL, {"q": "Scaleway", "product": "iam", "method": "CreateGroup"})
    assert len(rows(response)) == 2


def test_searching_a_current_name_finds_the_principal_even_if_recorded_otherwise(auditor_client, acme, owner):
    renamed = Actor(principal_type="user", principal_id=owner.pk, principal_name="olivia-old@acme.test")
    record_many(make_events(acme, 3, actor=renamed, minutes_ago=2))
    assert len(rows(auditor_client.get(URL, {"q": "owner@acme"}))) == 3  # as the table names them
    # The old name is nowhere on screen: the rows resolve to the owner's current address.
    assert len(rows(auditor_client.get(URL, {"q": "olivia-old"}))) == 0


def test_a_departed_users_email_matches_nothing_for_viewers_who_may_not_see_principals(
    auditor_client, acme_events, removed_member
):
    response = auditor_client.get(URL, {"q": removed_member.email})
    assert rows(response) == []
    html = auditor_client.get(URL, {"q": "unknown"}).content.decode()
    assert removed_member.email not in html and "former member" not in html


def test_a_departed_users_email_shows_the_recorded_name_marked_as_a_former_member(
    owner_client, acme_events, removed_member
):
    response = owner_client.get(URL, {"q": removed_member.email})
    assert len(rows(response)) == 2
    html = results(response)
    assert html.count('<span class="principal principal-unknown">Unknown</span>') == 2
    assert html.count(f'{removed_member.email} <span class="kind-tag">former member</span>') == 2


def test_the_drawer_names_a_former_member_to_viewers_who_may_see_principals(
    owner_client, auditor_client, acme_events, removed_member
):
    event = acme_events.filter(principal_id=removed_member.pk).first()
    url = reverse("audit:event", args=[event.pk])
    assert "former member" in owner_client.get(url).content.decode().split('id="drawer"')[1]
    assert removed_member.email not in auditor_client.get(url).content.decode().split('id="drawer"')[1]


def test_search_matches_a_403_by_its_badge(auditor_client, acme_events):
    assert len(rows(auditor_client.get(URL, {"q": "forbidden"}))) == 2
    # The badge's whole text: a bare "403" also matches, by chance, any random id holding those digits.
    assert len(rows(auditor_client.get(URL, {"q": "403 forbidden"}))) == 2


def test_search_stays_within_the_organization(outsider_client, acme_events, globex_event):
    assert rows(outsider_client.get(URL, {"q": "unknown"})) == []
    assert rows(outsider_client.get(URL, {"q": "owner@acme"})) == []
    assert rows(outsider_client.get(URL, {"q": "outsider@globex"})) == [str(globex_event.pk)]


@pytest.mark.parametrize("n", [1, 12])
def test_search_adds_only_the_facets_bound(
    auditor_client, acme, owner, removed_member, django_assert_num_queries, n
):
    record_many(
        make_events(acme, n, actor=actor_for(owner), minutes_ago=2)
        + make_events(acme, n, actor=actor_for(removed_member), minutes_ago=3)
    )
    # The page, whatever the number of events: one query more, the principals the text names
    # (`_principals_named`, so that the planner sees their ids), and one less, the timeline, which
    # a search counts in a request of its own. The facets' request adds that one and the facets'
    # scan bound (`facet_scan_bound`), which only a search needs.
    with django_assert_num_queries(LIST_QUERIES):
        response = auditor_client.get(URL, {"q": "unknown"}, headers=HX_RESULTS)
    assert len(rows(response)) == n
    with django_assert_num_queries(FACET_QUERIES + 2):
        facets = auditor_client.get(reverse("audit:event_facets"), {"q": "unknown"}, headers=HX_FACETS)
    assert f"in these {n} event" in facets.content.decode()
