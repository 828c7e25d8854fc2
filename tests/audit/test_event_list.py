from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor, record_many
from iam.middleware import SESSION_TIME_DISPLAY
from tests.audit.conftest import HX_RESTORE, HX_RESULTS, actor_for, make_events

URL = reverse("audit:events")
ROW = re.compile(r'<tr [^>]*data-event-id="([0-9a-f-]+)"')


def rows(response) -> list[str]:
    return ROW.findall(response.content.decode())


# --- the three request types ---------------------------------------------------------------------


def test_full_page_has_the_filters_the_results_and_the_drawer_host(auditor_client, acme_events):
    response = auditor_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "<html" in html and '<form id="filters"' in html and 'id="results"' in html and 'id="drawer"' in html
    )
    assert len(rows(response)) == 13  # the fr-par events of the last hour (global counts as fr-par)
    assert response["Vary"].count("HX-Request") == 1 and "HX-Target" in response["Vary"]


def test_results_target_renders_only_the_results_region(auditor_client, acme_events):
    response = auditor_client.get(URL, {"status": "403"}, headers=HX_RESULTS)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html and '<form id="filters"' not in html
    assert len(rows(response)) == 2
    # The method drop-down follows the product, so it comes along out of band.
    assert 'id="field-method"' in html and 'hx-swap-oob="true"' in html


def test_history_restore_gets_the_full_page(auditor_client, acme_events):
    response = auditor_client.get(URL, {"status": "403"}, headers=HX_RESTORE)
    html = response.content.decode()
    assert "<html" in html and '<form id="filters"' in html
    assert len(rows(response)) == 2
    assert '<option value="403" selected>' in html  # the filter shows the state of the URL


# --- filters -----------------------------------------------------------------------------------


def test_status_403_shows_only_forbidden_rows(auditor_client, acme_events):
    html = auditor_client.get(URL, {"status": "403"}).content.decode()
    assert html.count("badge-danger") == 2
    assert "badge-success" not in html.split('id="results"')[1]


def test_region_shows_only_that_regions_events(auditor_client, acme_events):
    response = auditor_client.get(URL, {"region": "nl-ams"})
    html = response.content.decode()
    assert len(rows(response)) == 2
    assert "DeleteSecret" in html and "CreateGroup" not in html.split('id="results"')[1]


def test_project_filter(auditor_client, acme_events, other_project):
    response = auditor_client.get(URL, {"project": str(other_project.pk)})
    assert len(rows(response)) == 3
    assert "terraform-ci" in response.content.decode()


def test_method_filter_and_its_choices_follow_the_product(auditor_client, acme_events):
    response = auditor_client.get(URL, {"product": "iam", "method": "CreateGroup"})
    assert len(rows(response)) == 2
    html = response.content.decode()
    method_select = html.split('id="id_method"')[1].split("</select>")[0]
    assert '"CreateAPIKey"' in method_select and '"CreateSecret"' not in method_select


def test_a_method_of_another_product_is_a_form_error(auditor_client, acme_events):
    html = auditor_client.get(URL, {"product": "iam", "method": "CreateSecret"}).content.decode()
    assert "Some filters are not valid" in html
    assert "CreateSecret is not a method of IAM." in html


def test_principal_filter(auditor_client, acme_events, removed_member):
    response = auditor_client.get(URL, {"principal": str(removed_member.pk)})
    assert len(rows(response)) == 2


def test_source_ip_or_cidr_filter(auditor_client, acme_events):
    assert len(rows(auditor_client.get(URL, {"ip": "5.6.7.8"}))) == 2
    assert len(rows(auditor_client.get(URL, {"ip": "212.133.0.0/16"}))) == 6
    assert len(rows(auditor_client.get(URL, {"ip": "10.0.0.0/8"}))) == 0


def test_resource_type_and_id_filters(auditor_client, acme_events):
    assert len(rows(auditor_client.get(URL, {"resource_type": "iam_group"}))) == 2
    event = acme_events.filter(method_name="CreateSecret", region="fr-par").first()
    resource = event.resources[0]
    response = auditor_client.get(URL, {"resource_type": resource["type"], "resource_id": resource["id"]})
    assert rows(response) == [str(event.pk)]


def test_free_text_searches_methods_resources_and_principal_names(auditor_client, acme_events):
    assert len(rows(auditor_client.get(URL, {"q": "apikey"}))) == 2  # method
    assert len(rows(auditor_client.get(URL, {"q": "Administrators"}))) == 2  # resource name
    assert len(rows(auditor_client.get(URL, {"q": "owner@acme"}))) == 6  # principal name


def test_presets_widen_the_window(auditor_client, acme, owner):
    record_many(make_events(acme, 1, actor=actor_for(owner), minutes_ago=60 * 5))
    assert len(rows(auditor_client.get(URL))) == 0
    assert len(rows(auditor_client.get(URL, {"range": "24h"}))) == 1


def test_custom_range_accepts_local_times_and_utc_instants(auditor_client, acme, owner):
    [event] = make_events(acme, 1, actor=actor_for(owner), minutes_ago=60 * 30)
    record_many([event])
    at = event.recorded_at
    utc = {
        "range": "custom",
        "after": f"{at - timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}",
        "before": f"{at + timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}",
    }
    assert rows(auditor_client.get(URL, utc)) == [str(event.pk)]
    paris = timezone.localtime(at, timezone=__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    local = {
        "range": "custom",
        "after": f"{paris - timedelta(minutes=1):%Y-%m-%dT%H:%M}",
        "before": f"{paris + timedelta(minutes=1):%Y-%m-%dT%H:%M:%S}",
    }
    response = auditor_client.get(URL, local)  # the auditor's zone is Europe/Paris
    assert rows(response) == [str(event.pk)]
    # The inputs show the UTC instants of a link as the user's wall-clock time.
    html = auditor_client.get(URL, utc).content.decode()
    assert f'value="{paris - timedelta(minutes=1):%Y-%m-%dT%H:%M:%S}"' in html


def test_a_link_with_bounds_but_no_preset_is_a_custom_range(auditor_client, acme, owner):
    # Alert e-mails and "around this time" link with after/before only.
    [recent] = make_events(acme, 1, actor=actor_for(owner), minutes_ago=20)
    [old] = make_events(acme, 1, actor=actor_for(owner), minutes_ago=40)
    record_many([old, recent])
    bounds = {
        "after": (recent.recorded_at - timedelta(seconds=1)).isoformat(),
        "before": (recent.recorded_at + timedelta(seconds=1)).isoformat(),
    }
    assert str(old.pk) not in rows(auditor_client.get(URL, bounds))
    assert str(recent.pk) in rows(auditor_client.get(URL, bounds))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "custom", "after": "2026-13-45T99:00"}, "Enter a valid date/time."),
        (
            {"range": "custom", "after": "2026-11-21T10:00", "before": "2026-11-21T09:00"},
            "The end of the range must be after its start.",
        ),
        ({"principal": "not-a-uuid"}, "Enter a valid UUID."),
        ({"project": str(uuid.uuid4())}, "Select a valid choice."),
        ({"ip": "300.1.2.3"}, "Enter an IP address (203.0.113.7) or a CIDR network (10.0.0.0/8)."),
        ({"ip": "10.0.0.0/99"}, "Enter an IP address"),
        ({"region": "mars-01"}, "Unknown region “mars-01”"),
        ({"status": "500"}, "Select a valid choice."),
        ({"product": "no-such-product"}, "Select a valid choice."),
        ({"cursor": "forged"}, "This page link is not valid any more."),
        ({"order": "drop table"}, "Select a valid choice."),
    ],
)
def test_bad_filter_input_is_a_form_error_not_a_500(auditor_client, acme_events, params, message):
    for headers in ({}, HX_RESULTS):
        response = auditor_client.get(URL, params, headers=headers)
        html = response.content.decode()
        assert response.status_code == 200  # htmx swaps 200s only
        assert "Some filters are not valid" in html and message in html
        assert rows(response) == []


def test_bad_input_marks_the_field_invalid_on_the_full_page(auditor_client, acme_events):
    html = auditor_client.get(URL, {"ip": "nope"}).content.decode()
    assert re.search(r'<input[^>]*name="ip"[^>]*aria-invalid="true"', html)


# --- principals --------------------------------------------------------------------------------


def test_removed_member_shows_as_unknown_with_their_principal_id(auditor_client, acme_events, removed_member):
    html = auditor_client.get(URL, {"principal": str(removed_member.pk)}).content.decode()
    results = html.split('id="results"')[1]
    assert results.count('<span class="principal principal-unknown">Unknown</span>') == 2
    # The ID shows shortened, in full on hover (and in the drawer).
    assert (
        results.count(f'title="Principal ID {removed_member.pk}">{str(removed_member.pk)[:8]}…</code>') == 2
    )
    assert removed_member.email not in results  # the snapshot name is not shown once unresolvable


def test_deleted_user_and_deleted_application_show_as_unknown(auditor_client, acme):
    ghost_user = Actor(principal_type="user", principal_id=uuid.uuid4(), principal_name="gone@acme.test")
    ghost_app = Actor(principal_type="application", principal_id=uuid.uuid4(), principal_name="old-ci")
    record_many(make_events(acme, 1, actor=ghost_user) + make_events(acme, 1, actor=ghost_app))
    results = auditor_client.get(URL).content.decode().split('id="results"')[1]
    assert results.count(">Unknown<") == 2
    assert str(ghost_user.principal_id) in results and str(ghost_app.principal_id) in results
    assert "gone@acme.test" not in results and "old-ci" not in results


def test_platform_events_show_scaleway(auditor_client, acme_events):
    html = auditor_client.get(URL, {"method": "CreateGroup"}).content.decode()
    table = html.split('id="results"')[1].split("<table")[1]  # the rows, not the facets above them
    assert table.count(">Scaleway</span>") == 2


def test_resolvable_principals_show_their_names(auditor_client, acme_events, owner):
    results = auditor_client.get(URL).content.decode().split('id="results"')[1]
    assert results.count(f">{owner.email}</span>") == 6  # the owner has no membership row, still resolves
    assert results.count(">terraform-ci</span>") == 3  # an application


# --- paging and sorting ------------------------------------------------------------------------


@pytest.fixture
def many_events(acme, owner):
    events = make_events(acme, 120, actor=actor_for(owner), minutes_ago=1, spacing=timedelta(seconds=10))
    record_many(events)
    return sorted(events, key=lambda e: (e.recorded_at, e.id), reverse=True)


def test_keyset_paging_older_and_back_to_newer_without_offset(auditor_client, many_events):
    newest = [str(e.pk) for e in many_events]
    with CaptureQueriesContext(connection) as queries:
        first = auditor_client.get(URL, {"range": "24h"})
    assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)
    assert rows(first) == newest[:50]
    older_url = re.search(r'<a class="btn btn-small" rel="next" href="([^"]+)"', first.content.decode())[1]
    second = auditor_client.get(older_url.replace("&amp;", "&"))
    assert rows(second) == newest[50:100]
    newer_url = re.search(r'<a class="btn btn-small" rel="prev" href="([^"]+)"', second.content.decode())[1]
    assert rows(auditor_client.get(newer_url.replace("&amp;", "&"))) == newest[:50]


def test_sort_toggle_shows_oldest_first(auditor_client, many_events):
    response = auditor_client.get(URL, {"range": "24h", "order": "recorded_at"})
    assert rows(response) == [str(e.pk) for e in reversed(many_events)][:50]
    assert 'aria-sort="ascending"' in response.content.decode()


def test_large_counts_show_as_a_floor(auditor_client, acme, owner, monkeypatch):
    # The floor is 10,000 (issue 10 §13); lowered here so that the test records 1,001 events, not 10,001.
    monkeypatch.setattr("audit.views.EXACT_COUNT_CAP", 1000)
    record_many(make_events(acme, 1001, actor=actor_for(owner), minutes_ago=1, spacing=timedelta(seconds=1)))
    html = auditor_client.get(URL, {"range": "24h"}).content.decode()
    assert "<strong>1,000+</strong> events" in html
    assert "(about 1,000)" in html  # and about how many


# --- empty state, timeline, time zones ---------------------------------------------------------


def test_empty_result_explains_itself_and_offers_a_wider_window(auditor_client, acme, project):
    html = auditor_client.get(URL, {"project": str(project.pk)}).content.decode()
    assert "No events in fr-par for web-shop in the last hour." in html
    assert "range=24h" in html and "Show the last 24 hours" in html


def test_empty_result_with_filters_offers_to_clear_them(auditor_client, acme_events):
    html = auditor_client.get(URL, {"region": "pl-waw", "range": "30d", "status": "403"}).content.decode()
    assert "No events in pl-waw for all projects in the last 30 days that match these filters." in html
    assert "Clear filters" in html and "Show the" not in html


def test_timeline_counts_events_and_403s_per_bucket_and_zooms_on_click(auditor_client, acme_events):
    html = auditor_client.get(URL).content.decode()
    svg = html.split("<svg")[1].split("</svg>")[0]
    assert svg.count('class="bar-denied"') in (1, 2)  # the two 403s are 7 s apart: one or two minutes
    bars = re.findall(r'<a href="([^"]+)" class="bar">', svg)
    assert 1 <= len(bars) <= 61
    assert all("range=custom" in b and "after=" in b and "before=" in b for b in bars)
    # Following a bar narrows the window to that bucket.
    zoomed = auditor_client.get(bars[0].replace("&amp;", "&"))
    assert 0 < len(rows(zoomed)) < 13
    assert "per minute" in html


def test_times_carry_their_offset_in_the_users_zone_or_utc(auditor_client, acme_events):
    event = acme_events.filter(region="fr-par").order_by("-recorded_at").first()
    paris = timezone.localtime(event.recorded_at, timezone=__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    html = auditor_client.get(URL).content.decode()
    assert f"{paris:%Y-%m-%d %H:%M:%S} +01:00" in html
    session = auditor_client.session
    session[SESSION_TIME_DISPLAY] = "utc"
    session.save()
    html = auditor_client.get(URL).content.decode()
    assert f"{event.recorded_at:%Y-%m-%d %H:%M:%S} +00:00" in html


# --- isolation and permissions -----------------------------------------------------------------


def test_an_outsider_sees_only_their_own_organizations_events(outsider_client, acme_events, globex_event):
    response = outsider_client.get(URL)
    assert rows(response) == [str(globex_event.pk)]


def test_a_member_without_rights_gets_a_403_that_is_recorded(member_client, member_without_rights, acme):
    from audit.models import Event

    response = member_client.get(URL, {"region": "fr-par"})
    assert response.status_code == 403
    denial = Event.objects.get(organization_id=acme.pk, principal_id=member_without_rights.pk)
    assert denial.status_code == 403 and denial.method_name == "ListEvents"


# --- query budgets -----------------------------------------------------------------------------


def _seed(acme, owner, removed_member, application, n):
    app = Actor(principal_type="application", principal_id=application.pk, principal_name="terraform-ci")
    record_many(
        make_events(acme, n, actor=actor_for(owner), minutes_ago=2)
        + make_events(acme, n, actor=actor_for(removed_member), minutes_ago=3)
        + make_events(acme, n, actor=app, minutes_ago=4)
        + make_events(acme, n, actor=Actor.system(), minutes_ago=5, status_code=403)
    )


# session, user, organizations (middleware), membership + rules (permission), projects,
# events page, timeline, principal names. No facet query: the panel asks for its grid in a
# request of its own (tests/audit/test_event_facets.py).
LIST_QUERIES = 9


@pytest.mark.parametrize("n", [1, 12])
def test_full_page_runs_a_constant_number_of_queries(
    auditor_client, acme, owner, removed_member, application, django_assert_num_queries, n
):
    _seed(acme, owner, removed_member, application, n)
    with django_assert_num_queries(LIST_QUERIES):
        response = auditor_client.get(URL)
    assert len(rows(response)) == 4 * n


@pytest.mark.parametrize("n", [1, 12])
def test_results_partial_runs_a_constant_number_of_queries(
    auditor_client, acme, owner, removed_member, application, django_assert_num_queries, n
):
    _seed(acme, owner, removed_member, application, n)
    with django_assert_num_queries(LIST_QUERIES):
        response = auditor_client.get(URL, {"project": ""}, headers=HX_RESULTS)
    assert len(rows(response)) == 4 * n


@pytest.mark.parametrize("n", [1, 12])
def test_history_restore_runs_a_constant_number_of_queries(
    auditor_client, acme, owner, removed_member, application, django_assert_num_queries, n
):
    _seed(acme, owner, removed_member, application, n)
    with django_assert_num_queries(LIST_QUERIES):
        auditor_client.get(URL, headers=HX_RESTORE)


# --- Python and template time (issue 14): queries per page as the owner, drop-downs rendered once --

# session, user, organizations (middleware), projects, events page, timeline, principal names:
# the owner needs no policy lookups.
OWNER_LIST_QUERIES = 7


@pytest.mark.parametrize("n", [1, 12])
@pytest.mark.parametrize("partial", [False, True])
def test_the_owners_events_page_and_partial_run_at_most_a_fixed_number_of_queries(
    owner_client, acme, owner, removed_member, application, django_assert_max_num_queries, n, partial
):
    _seed(acme, owner, removed_member, application, n)
    with django_assert_max_num_queries(OWNER_LIST_QUERIES):
        response = owner_client.get(URL, headers=HX_RESULTS if partial else {})
    assert response.status_code == 200
    assert len(rows(response)) == 4 * n


def _selected(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.DOTALL)
    assert select, name
    return re.findall(r'<option value="([^"]*)"[^>]*\bselected\b', select.group(0))


def test_each_request_gets_its_own_selection_in_the_drop_downs_rendered_once(owner_client, acme_events):
    """The filters' drop-downs are rendered once per value and reused (`CachedSelect`): a later
    request with other values shows its own, and an earlier one's again when asked."""
    for region, product, status, resource_type in [
        ("fr-par", "secret-manager", "403", "secret_manager_secret"),
        ("nl-ams", "instance", "200", "instance_server"),
        ("fr-par", "", "", ""),
        ("fr-par", "secret-manager", "403", "secret_manager_secret"),
    ]:
        params = {"region": region, "product": product, "status": status, "resource_type": resource_type}
        html = owner_client.get(URL, params).content.decode()
        assert _selected(html, "product") == [product]
        assert _selected(html, "status") == [status]
        assert _selected(html, "resource_type") == [resource_type]
        assert _selected(html, "region") == [region]
        # Without a product, the method is a text box with the catalogue's methods as suggestions.
        assert ('<datalist id="method-options"><option value="AddBackendServers"></option>' in html) == (
            not product
        )


@pytest.mark.parametrize(
    ("cached", "plain"),
    [
        ("CachedTextInput", "TextInput"),
        ("CachedSearchInput", "SearchInput"),
        ("CachedHiddenInput", "HiddenInput"),
        ("CachedLocalDateTimeInput", "LocalDateTimeInput"),
    ],
)
def test_empty_inputs_are_rendered_once_and_typed_values_every_time(cached, plain):
    """The filters' text boxes keep their empty HTML (`_RenderedOnce`), the template's own; a
    typed value is rendered for its request only, never kept for another reader to time."""
    from django import forms as django_forms

    from audit import forms as audit_forms

    ours = getattr(audit_forms, cached)(attrs={"placeholder": "ID", "autocomplete": "off"})
    theirs = (getattr(audit_forms, plain, None) or getattr(django_forms, plain))(
        attrs={"placeholder": "ID", "autocomplete": "off"}
    )
    audit_forms._RenderedOnce.rendered.clear()
    for value in (None, "", None):
        assert ours.render("q", value) == theirs.render("q", value)
    kept = len(audit_forms._RenderedOnce.rendered)
    assert kept in (1, 2)  # None and "": one entry, or one each where they format apart
    for value in ('"><script>alert(1)</script>', "2026-11-21T09:00:00Z", "10.0.0.0/8"):
        assert ours.render("q", value) == theirs.render("q", value)
    assert len(audit_forms._RenderedOnce.rendered) == kept
