from __future__ import annotations

import json
import re
import uuid

import pytest
from django.urls import reverse

from audit.models import Event
from tests.audit.conftest import HX_DRAWER, HX_RESTORE, actor_for, make_events

LIST = reverse("audit:events")


def detail(event) -> str:
    return reverse("audit:event", args=[event.pk])


@pytest.fixture
def denied_event(acme_events, removed_member):
    return acme_events.get(
        principal_id=removed_member.pk,
        status_code=403,
        recorded_at=acme_events.filter(principal_id=removed_member.pk)
        .order_by("-recorded_at")
        .values("recorded_at")[:1],
    )


@pytest.fixture
def secret_event(acme_events, owner):
    return acme_events.filter(principal_id=owner.pk).order_by("-recorded_at").first()


def test_detail_url_shows_the_list_with_the_drawer_open(auditor_client, secret_event):
    response = auditor_client.get(detail(secret_event), {"status": "200"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="results"' in html
    drawer = html.split('<div id="drawer"')[1]
    assert "<dialog open" in drawer and "CreateSecret" in drawer
    assert "&quot;name&quot;: &quot;db-password-0&quot;" in drawer  # pretty request body
    assert secret_event.user_agent in drawer and secret_event.request_id in drawer
    assert "secret_manager_secret" in drawer and "web-shop" in drawer
    assert "+01:00" in drawer and " UTC)" in drawer  # the time with its offset, and in UTC
    # Closing returns to the same filtered list.
    assert 'class="btn btn-ghost drawer-close" href="/audit-trail/events/?status=200"' in drawer


def test_drawer_target_renders_only_the_drawer(auditor_client, secret_event):
    response = auditor_client.get(detail(secret_event), headers=HX_DRAWER)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="drawer"')
    assert "<html" not in html and 'id="results"' not in html
    assert "CreateSecret" in html
    assert "HX-Target" in response["Vary"]


def test_history_restore_of_a_detail_url_gets_the_full_page(auditor_client, secret_event):
    html = auditor_client.get(detail(secret_event), headers=HX_RESTORE).content.decode()
    assert "<html" in html and "<dialog open" in html


def test_closing_the_drawer_through_htmx_returns_an_empty_drawer(auditor_client, acme_events):
    html = auditor_client.get(LIST, headers=HX_DRAWER).content.decode()
    assert html.lstrip().startswith('<div id="drawer"') and "<dialog" not in html


def test_copy_json_carries_the_event_in_its_wire_shape(auditor_client, secret_event):
    html = auditor_client.get(detail(secret_event)).content.decode()
    payload = json.loads(
        re.search(r'<script id="event-json" type="application/json">(.*?)</script>', html, re.S)[1]
    )
    assert payload["id"] == str(secret_event.pk)
    assert payload["principal"] == {"id": str(secret_event.principal_id)}
    assert payload["request_body"] == secret_event.request_body
    assert payload["recorded_at"].endswith("Z")
    assert 'data-copy-json="event-json"' in html


def test_same_request_and_around_this_time_links(auditor_client, acme, owner, secret_event):
    # A second event of the same request, and one a minute away from another request.
    from audit.services import record_many

    (sibling,) = make_events(
        acme, 1, actor=actor_for(owner), minutes_ago=5, method_name="CreateSecretVersion"
    )
    sibling.request_id = secret_event.request_id
    record_many([sibling])
    html = auditor_client.get(detail(secret_event)).content.decode()
    same = re.search(r'<a class="btn" href="([^"]+)">Same request</a>', html)[1].replace("&amp;", "&")
    around = re.search(r'<a class="btn" href="([^"]+)">Around this time</a>', html)[1].replace("&amp;", "&")
    same_rows = re.findall(
        r'data-event-id="([0-9a-f-]+)"', auditor_client.get(same).content.decode().split('id="results"')[1]
    )
    assert set(same_rows) == {str(secret_event.pk), str(sibling.pk)}
    around_html = auditor_client.get(around).content.decode()
    assert str(secret_event.pk) in around_html and "Some filters are not valid" not in around_html


def test_removed_members_event_names_them_unknown_with_their_id(auditor_client, denied_event, removed_member):
    drawer = auditor_client.get(detail(denied_event), headers=HX_DRAWER).content.decode()
    assert ">Unknown</strong>" in drawer and str(removed_member.pk) in drawer
    assert removed_member.email not in drawer
    assert "403 Forbidden" in drawer


def test_platform_event_names_scaleway(auditor_client, acme_events):
    event = acme_events.filter(principal_type="system").first()
    drawer = auditor_client.get(detail(event), headers=HX_DRAWER).content.decode()
    assert "<strong>Scaleway</strong>" in drawer


def test_an_outsider_gets_404_for_an_acme_event_id(outsider_client, secret_event):
    assert outsider_client.get(detail(secret_event)).status_code == 404
    assert outsider_client.get(detail(secret_event), headers=HX_DRAWER).status_code == 404


def test_an_unknown_event_id_is_404(auditor_client, acme_events):
    assert auditor_client.get(reverse("audit:event", args=[uuid.uuid4()])).status_code == 404
    assert auditor_client.get("/audit-trail/events/not-a-uuid/").status_code == 404


def test_a_member_without_rights_gets_403_on_an_event(
    member_client, secret_event, member_without_rights, acme
):
    assert member_client.get(detail(secret_event)).status_code == 403
    assert Event.objects.filter(
        organization_id=acme.pk,
        principal_id=member_without_rights.pk,
        status_code=403,
        method_name="GetEvent",
    ).exists()


def test_the_drawer_on_bad_list_filters_still_opens(auditor_client, secret_event):
    response = auditor_client.get(detail(secret_event), {"ip": "nope"})
    html = response.content.decode()
    assert response.status_code == 200 and "<dialog open" in html and "Some filters are not valid" in html


# session, user, organizations, membership + rules, projects, the event, principal names.
DRAWER_QUERIES = 8


@pytest.mark.parametrize("resources", [1, 25])
def test_drawer_runs_a_constant_number_of_queries(
    auditor_client, acme, owner, django_assert_num_queries, resources
):
    from audit.services import record_many

    items = [
        {"id": str(uuid.uuid4()), "type": "secret_manager_secret", "name": f"s{i}"} for i in range(resources)
    ]
    [event] = make_events(acme, 1, actor=actor_for(owner), resources=items)
    record_many([event])
    with django_assert_num_queries(DRAWER_QUERIES):
        html = auditor_client.get(detail(event), headers=HX_DRAWER).content.decode()
    assert html.count('<td class="mono">secret_manager_secret</td>') == resources


@pytest.mark.parametrize("n", [1, 12])
def test_detail_full_page_runs_a_constant_number_of_queries(
    auditor_client, acme, owner, removed_member, django_assert_num_queries, n
):
    from audit.services import record_many

    events = make_events(acme, n, actor=actor_for(owner)) + make_events(
        acme, n, actor=actor_for(removed_member)
    )
    record_many(events)
    # The list's budget (no facets: their grid is a request of its own) plus the event and the
    # drawer's principal name.
    with django_assert_num_queries(11):
        auditor_client.get(detail(events[0]))
