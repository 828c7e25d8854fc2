from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from audit.services import Actor, build_event, record_many
from iam import services
from iam.models import Membership
from tests.iam.conftest import client_for

HX_RESULTS = {"HX-Request": "true", "HX-Target": "results"}


def _iam_events(org, n, *, actor, start, method="CreateGroup"):
    return [
        build_event(
            organization_id=org.pk,
            actor=actor,
            product_name="iam",
            service_name="scaleway.iam.v1alpha1.Api",
            method_name=method,
            locality="global",
            resources=[{"id": f"res-{i}", "type": "iam_group"}],
            recorded_at=start + timedelta(seconds=i),
        )
        for i in range(n)
    ]


@pytest.mark.django_db
def test_logs_list_created_and_deleted_keys_newest_first(owner_client, acme, owner):
    key, _ = services.api_key_create(actor=Actor.of(owner), organization=acme, user=owner)
    access_key = key.access_key
    services.api_key_delete(actor=Actor.of(owner), key=key)

    html = owner_client.get("/iam/logs/").content.decode()

    deleted, created = html.index(">Deleted</span>"), html.index(">Created</span>")
    assert deleted < created
    assert html.count(access_key) == 2
    assert "owner@acme.test" in html


@pytest.mark.django_db
def test_logs_filter_on_action_category_principal_and_date(owner_client, acme, owner, iam_manager):
    actor = Actor.of(owner)
    key, _ = services.api_key_create(actor=actor, organization=acme, user=owner)
    access_key = key.access_key
    services.api_key_delete(actor=actor, key=key)
    app = services.application_create(actor=Actor.of(iam_manager), organization=acme, name="bot")

    html = owner_client.get("/iam/logs/?action=deleted").content.decode()
    assert ">Deleted</span>" in html and ">Created</span>" not in html

    html = owner_client.get("/iam/logs/?resource_type=application").content.decode()
    assert str(app.pk) in html and access_key not in html

    html = owner_client.get(f"/iam/logs/?bearer_id={iam_manager.pk}").content.decode()
    assert str(app.pk) in html and access_key not in html

    tomorrow = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    html = owner_client.get(f"/iam/logs/?created_after={tomorrow}").content.decode()
    assert "No IAM log entries match" in html


@pytest.mark.django_db
def test_bad_filter_values_show_errors_not_a_500(owner_client, acme):
    response = owner_client.get(
        "/iam/logs/?bearer_id=not-a-uuid&created_after=yesterday&action=burned&cursor=zz"
    )
    assert response.status_code == 200
    assert b"Enter a valid UUID" in response.content


@pytest.mark.django_db
def test_logs_sort_ascending_and_page_by_keyset(owner_client, acme, owner):
    start = timezone.now() - timedelta(minutes=30)
    record_many(_iam_events(acme, 60, actor=Actor.of(owner), start=start))

    first = owner_client.get("/iam/logs/").content.decode()
    assert "res-59" in first and "res-10" in first and "res-9<" not in first

    ascending = owner_client.get("/iam/logs/?sort=created_at").content.decode()
    assert ascending.index("res-0<") < ascending.index("res-1<")
    assert "res-59" not in ascending
    assert 'aria-sort="ascending"' in ascending

    older = owner_client.get("/iam/logs/").context["older_url"]
    second = owner_client.get("/iam/logs/" + older).content.decode()
    assert "res-9<" in second and "res-0<" in second and "res-10<" not in second


@pytest.mark.django_db
def test_a_removed_member_shows_as_unknown_with_the_id_kept(owner_client, acme, owner, iam_manager):
    app = services.application_create(actor=Actor.of(iam_manager), organization=acme, name="bot")
    assert "iam-manager@acme.test" in owner_client.get("/iam/logs/").content.decode()

    membership = Membership.objects.get(organization=acme, user=iam_manager)
    services.member_remove(actor=Actor.of(owner), membership=membership)

    html = owner_client.get("/iam/logs/?resource_type=application").content.decode()
    assert str(app.pk) in html
    assert "Unknown" in html
    assert str(iam_manager.pk) in html
    assert "iam-manager@acme.test" not in html


@pytest.mark.django_db
def test_a_deleted_user_shows_as_unknown(owner_client, acme, owner, iam_manager):
    services.application_create(actor=Actor.of(iam_manager), organization=acme, name="bot")
    user_id = iam_manager.pk
    iam_manager.delete()
    html = owner_client.get("/iam/logs/").content.decode()
    assert "Unknown" in html and str(user_id) in html


@pytest.mark.django_db
def test_platform_actions_show_as_scaleway(owner):
    organization = services.organization_create(name="Initech", owner=owner)
    html = client_for(owner).get("/iam/logs/?resource_type=group").content.decode()
    assert html.count('class="principal principal-scaleway">Scaleway<') == 3
    assert organization.groups.count() == 3


@pytest.mark.django_db
def test_a_viewer_without_iam_read_sees_logs_but_every_principal_unknown(auditor_client, acme, owner):
    services.application_create(actor=Actor.of(owner), organization=acme, name="bot")
    html = auditor_client.get("/iam/logs/").content.decode()
    assert "owner@acme.test" not in html
    assert "Unknown" in html and str(owner.pk) in html


@pytest.mark.django_db
def test_a_refused_or_non_iam_event_is_not_a_log_entry(owner_client, member_client, acme, owner):
    member_client.post("/iam/api-keys/create/", {"bearer": "me"})
    assert Event.objects.filter(status_code=403, method_name="CreateAPIKey").exists()
    assert "No IAM log entries" in owner_client.get("/iam/logs/").content.decode()


@pytest.mark.django_db
def test_more_info_full_page_partial_and_history_restore(owner_client, acme, owner):
    client_actor = Actor.of(owner)
    client_actor = Actor(
        **{**client_actor.__dict__, "source_ip": "203.0.113.7", "user_agent": "scaleway-sdk-go/1.0"}
    )
    services.application_create(actor=client_actor, organization=acme, name="bot")
    log = Event.objects.get(method_name="CreateApplication")
    url = f"/iam/logs/{log.pk}/"

    page = owner_client.get(url).content.decode()
    assert "<html" in page and "203.0.113.7" in page and "scaleway-sdk-go/1.0" in page

    partial = owner_client.get(
        url, headers={"HX-Request": "true", "HX-Target": "log-dialog-body"}
    ).content.decode()
    assert "<html" not in partial and partial.lstrip().startswith("<dl")
    assert "203.0.113.7" in partial and "scaleway-sdk-go/1.0" in partial

    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in owner_client.get(url, headers=restore).content.decode()


@pytest.mark.django_db
def test_another_organizations_log_entry_is_404(outsider_client, acme, owner):
    services.application_create(actor=Actor.of(owner), organization=acme, name="bot")
    log = Event.objects.get(method_name="CreateApplication")
    assert outsider_client.get(f"/iam/logs/{log.pk}/").status_code == 404


@pytest.mark.django_db
def test_logs_results_region_full_page_partial_and_history_restore(owner_client, acme, owner):
    services.application_create(actor=Actor.of(owner), organization=acme, name="bot")
    partial = owner_client.get("/iam/logs/?action=created", headers=HX_RESULTS).content.decode()
    assert "<html" not in partial and "<form" not in partial
    assert partial.lstrip().startswith('<section id="results"')
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in owner_client.get("/iam/logs/", headers=restore).content.decode()


@pytest.mark.django_db
def test_logs_page_query_count(owner_client, acme, owner, iam_manager, django_assert_num_queries):
    start = timezone.now() - timedelta(minutes=5)
    record_many(_iam_events(acme, 30, actor=Actor.of(owner), start=start))
    record_many(_iam_events(acme, 5, actor=Actor.of(iam_manager), start=start))
    owner_client.get("/iam/logs/")  # warm the session
    # session, user, organizations, page of events, user names
    with django_assert_num_queries(5):
        owner_client.get("/iam/logs/", headers=HX_RESULTS)
    with django_assert_num_queries(5):
        owner_client.get("/iam/logs/")


@pytest.mark.django_db
def test_a_log_entry_names_its_resource_next_to_the_id(owner_client, acme, owner):
    group = services.group_create(actor=Actor.of(owner), organization=acme, name="release-managers")
    html = owner_client.get("/iam/logs/").content.decode()
    assert f"release-managers <code>{group.pk}</code>" in html


@pytest.mark.django_db
def test_the_date_header_flips_the_order_and_starts_again_from_the_top(owner_client, acme, owner):
    record_many(_iam_events(acme, 3, actor=Actor.of(owner), start=timezone.now() - timedelta(minutes=5)))

    newest_first = owner_client.get("/iam/logs/?action=created&cursor=stale").content.decode()
    assert 'aria-sort="descending"' in newest_first
    assert 'class="sort-link" href="?action=created&amp;sort=created_at"' in newest_first

    oldest_first = owner_client.get("/iam/logs/?sort=created_at").content.decode()
    assert 'aria-sort="ascending"' in oldest_first
    assert 'class="sort-link" href="?sort=-created_at"' in oldest_first


@pytest.mark.django_db
def test_an_invalid_principal_id_shows_the_error_and_no_unfiltered_list(owner_client, acme, owner):
    key, _ = services.api_key_create(actor=Actor.of(owner), organization=acme, user=owner)
    for headers in ({}, HX_RESULTS):
        html = owner_client.get("/iam/logs/?bearer_id=not-a-uuid", headers=headers).content.decode()
        assert "Some filters are not valid." in html
        assert "Enter a valid UUID." in html
        assert key.access_key not in html  # not the whole, unfiltered list under the error


@pytest.mark.django_db
def test_a_reversed_date_range_says_so(owner_client, acme, owner):
    key, _ = services.api_key_create(actor=Actor.of(owner), organization=acme, user=owner)
    response = owner_client.get("/iam/logs/?created_after=2026-03-02T10:00&created_before=2026-03-01T10:00")
    html = response.content.decode()
    assert response.status_code == 200
    assert "The end of the range must be after its start." in html
    assert "No IAM log entries match" not in html
    assert key.access_key not in html


@pytest.mark.django_db
def test_an_overlong_filter_value_gets_a_length_error_and_is_not_echoed(owner_client, acme):
    long_value = "x" * 3000
    for name in ("bearer_id", "created_after"):
        response = owner_client.get(f"/iam/logs/?{name}={long_value}")
        html = response.content.decode()
        assert response.status_code == 200
        assert "Some filters are not valid." in html
        assert f'value="{long_value}' not in html  # the field does not write it back
    html = owner_client.get(f"/iam/logs/?bearer_id={long_value}").content.decode()
    assert "at most 36 characters (this value has 3,000)" in html
    assert 'maxlength="36"' in html


@pytest.mark.django_db
def test_the_table_body_built_in_one_pass_is_the_markup_django_tables2_renders(acme, owner, iam_manager, rf):
    """`IamLogTable.tbody_html` builds the rows itself for speed: byte for byte what django-tables2
    renders cell by cell, over every kind of principal and hostile names."""
    from django.template.loader import render_to_string

    from audit.models import PrincipalType
    from iam.selectors import log_rows
    from iam.tables import IamLogTable

    start = timezone.now() - timedelta(hours=1)
    people = [
        Actor.of(owner),
        Actor.of(iam_manager),
        Actor.system(),
        Actor(principal_type=PrincipalType.USER, principal_id=uuid.UUID(int=7), source_ip="10.0.0.1"),
        Actor(principal_type="anonymous", source_ip="203.0.113.7", user_agent="curl/8"),
    ]
    events = []
    for i, actor in enumerate(people):
        for method, name in (
            ("CreateGroup", '<b>"ops" & co</b>'),
            ("DeleteAPIKey", ""),
            ("UpdatePolicy", "p'1"),
        ):
            event = _iam_events(acme, 1, actor=actor, start=start + timedelta(minutes=i), method=method)[0]
            event.resources = (
                [{"id": f"<id-{i}>", "type": "iam_group", "name": name}] if name else event.resources
            )
            events.append(event)
    record_many(events)
    stored = list(Event.objects.filter(organization_id=acme.pk).order_by("-recorded_at"))
    for may_see_principals in (True, False):
        rows = log_rows(organization=acme, events=stored, may_see_principals=may_see_principals)
        table = IamLogTable(rows, order_by=("-created_at",))
        request = rf.get("/iam/logs/")
        ours = render_to_string("iam/_log_table.html", {"table": table, "request": request})
        theirs = render_to_string("_partials/table.html", {"table": table, "request": request})
        assert "<tbody" in ours and ours.count("<tr") == len(stored) + 1
        assert ours == theirs
        assert "&lt;b&gt;&quot;ops&quot; &amp; co&lt;/b&gt;" in ours and '<b>"ops"' not in ours
