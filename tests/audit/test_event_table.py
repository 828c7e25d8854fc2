"""The Events table: one row template looped in the Events page (`events_table` partial), with the
markup, links and escaping the console has always printed, and Django's own filter widgets."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django import forms
from django.forms import Select
from django.forms.renderers import DjangoTemplates
from django.urls import reverse

from audit import catalogue
from audit.forms import EventFilterForm
from audit.services import Actor, build_event, record_many
from tests.audit.conftest import HX_RESULTS, SECRET, actor_for
from tests.factories import ApplicationFactory

URL = reverse("audit:events")
AT = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
WINDOW = {"range": "custom", "after": "2026-01-05T09:00:00Z", "before": "2026-01-05T10:30:00Z"}


def record(acme, actor, *, minutes_ago=0, **fields):
    event = build_event(
        organization_id=acme.pk,
        actor=actor,
        recorded_at=AT - timedelta(minutes=minutes_ago),
        **(SECRET | fields),
    )
    record_many([event])
    return event


def row_of(html: str, event) -> str:
    match = re.search(rf'<tr [^>]*data-event-id="{event.pk}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {event.pk}"
    return match.group(0)


def pivots(html: str) -> str:
    """The row with each pivot link's opening tag as PIVOT (their URLs have tests of their own)."""
    return re.sub(r'<a class="pivot" href="[^"]*"( title="[^"]*")?>', "PIVOT", html)


def test_the_date_cell_opens_the_drawer_keeping_the_lists_query(auditor_client, acme, owner):
    event = record(acme, actor_for(owner))
    html = auditor_client.get(URL, WINDOW | {"status": "200"}).content.decode()
    url = (
        f"/audit-trail/events/{event.pk}/?range=custom&amp;after=2026-01-05T09%3A00%3A00Z"
        "&amp;before=2026-01-05T10%3A30%3A00Z&amp;status=200"
    )
    assert (
        f'<tr class="even" data-event-id="{event.pk}"><td class="col-date">'
        f'<a class="event-link" href="{url}" hx-get="{url}" hx-target="#drawer" hx-swap="outerHTML" '
        'hx-push-url="true" aria-label="Open event CreateSecret at 2026-01-05 11:00:00 +01:00">'
        '<time datetime="2026-01-05T10:00:00Z">2026-01-05 11:00:00 +01:00</time></a> <span class="ago">'
    ) in html  # then how long ago (issue 10 §12)


def test_every_kind_of_principal_is_named_and_escaped(auditor_client, acme, owner, removed_member):
    app = ApplicationFactory(organization=acme, name='ci <b>"runner"</b>')
    events = {
        "user": record(acme, actor_for(owner), minutes_ago=1),
        "app": record(
            acme, Actor(principal_type="application", principal_id=app.pk, principal_name="x"), minutes_ago=2
        ),
        "removed": record(acme, actor_for(removed_member), minutes_ago=3),
        "system": record(acme, Actor.system(), minutes_ago=4),
        "anonymous": record(acme, Actor(principal_type="anonymous", principal_name="<anon>"), minutes_ago=5),
    }
    html = auditor_client.get(URL, WINDOW).content.decode()
    assert f'<span class="principal" title="user {owner.pk}">{owner.email}</span>' in row_of(
        html, events["user"]
    )
    assert (
        f'<span class="principal" title="application {app.pk}">ci &lt;b&gt;&quot;runner&quot;&lt;/b&gt;</span>'
        ' <span class="kind-tag">app</span>'
    ) in row_of(html, events["app"])
    assert (
        '<span class="principal principal-unknown">Unknown</span> '
        f'<code class="principal-id" title="Principal ID {removed_member.pk}">{str(removed_member.pk)[:8]}…</code>'
    ) in row_of(html, events["removed"])
    assert (
        '<span class="principal principal-system" title="An action of the Scaleway platform">Scaleway</span>'
    ) in row_of(html, events["system"])
    assert '<span class="principal principal-anonymous">Anonymous</span>' in row_of(html, events["anonymous"])


def test_resources_ips_methods_and_statuses_render_as_before(auditor_client, acme, owner):
    named = record(
        acme,
        actor_for(owner, ip="2001:db8::1"),
        minutes_ago=1,
        resources=[{"id": "abc", "type": "secret_manager_secret", "name": "<x>&'"}, {"id": "d", "type": "e"}],
    )
    unnamed = record(
        acme,
        actor_for(owner, ip=None),
        minutes_ago=2,
        status_code=500,
        method_name="Delete<Secret>",
        resources=[{"id": "0123456789abcdef", "type": "secret_manager_secret"}],
    )
    bare = record(acme, actor_for(owner), minutes_ago=3, status_code=403, resources=[])
    html = auditor_client.get(URL, WINDOW).content.decode()

    first = row_of(html, named)
    # Each value is also a link that narrows the list to it (issue 10 §10): PIVOT stands for its tag.
    assert (
        '<td class="col-resources">PIVOT<span class="resource" title="secret_manager_secret abc">'
        '<span class="resource-type">secret_manager_secret</span> &lt;x&gt;&amp;&#x27;</span></a>'
        ' <span class="more">+1</span></td>'
    ) in pivots(first)
    assert '<td class="col-ip mono">PIVOT<span class="ipv6">2001:db8::1</span></a></td>' in pivots(first)
    assert '<span class="badge badge-success">200 Successful</span>' in first

    second = row_of(html, unnamed)
    assert (
        '<span class="resource-type">secret_manager_secret</span> <code>0123456789ab…</code></span>' in second
    )
    assert '<td class="col-ip mono"><span class="muted">—</span></td>' in second
    assert (
        '<span class="method" title="scaleway.secret_manager.v1beta1.Api">Delete&lt;Secret&gt;</span>'
        in second
    )
    assert '<span class="badge badge-warning">500 Error</span>' in second

    third = row_of(html, bare)
    assert third.startswith(f'<tr class="row-denied even" data-event-id="{bare.pk}">')
    assert '<td class="col-resources"><span class="muted">—</span></td>' in third
    assert '<td class="col-ip mono">PIVOT212.133.41.37</a></td>' in pivots(third)
    assert '<span class="badge badge-danger">403 Forbidden</span>' in third


def test_the_drawer_shows_the_same_status_badge(auditor_client, acme, owner):
    event = record(acme, actor_for(owner), status_code=500)
    html = auditor_client.get(reverse("audit:event", args=[event.pk])).content.decode()
    assert '<p class="drawer-when">\n          <span class="badge badge-warning">500 Error</span>' in html


@pytest.mark.parametrize(
    ("data", "selected"),
    [
        ({}, ""),
        ({"method": "CreateSecret"}, "CreateSecret"),
        ({"product": "iam", "method": "CreateSecret"}, None),  # an error: aria-invalid, aria-describedby
        ({"method": '<x>"'}, None),
        ({"product": "secret-manager"}, ""),
        ({"product": "secret-manager", "method": "CreateSecret"}, "CreateSecret"),
    ],
)
def test_the_filters_drop_downs_are_djangos_selects_showing_the_choice_and_the_error(acme, data, selected):
    form = EventFilterForm(data, projects=[])
    form.is_valid()
    names = [name for name, field in form.fields.items() if isinstance(field.widget, Select)]
    assert {"region", "project", "range", "product", "status", "resource_type"} <= set(names)
    region = str(form["region"])
    assert region.startswith('<select name="region" form="filters" id="id_region">')
    assert '<option value="nl-ams">nl-ams (Amsterdam)</option>' in region
    method = str(form["method"])
    if "product" in data:  # a product's methods: a drop-down
        assert "method" in names
        chosen = re.findall(r'<option value="([^"]*)" selected>([^<]*)</option>', method)
        assert chosen == ([] if selected is None else [(selected, selected or "All methods")])
    else:  # every product's (some 240): a text box that suggests them (issue 10 §9)
        assert 'list="method-options"' in method
        assert form.method_suggestions == catalogue.methods()
        if selected is not None:
            assert re.findall(r'value="([^"]*)"', method) == ([selected] if selected else [])
    assert "<x>" not in method  # a hostile value is never echoed as markup
    if data.get("product") == "iam":
        assert 'aria-invalid="true"' in method and 'aria-describedby="id_method_error"' in method
        assert '<option value="CreateSecret"' not in method  # only IAM's methods are offered


def test_each_form_has_its_own_projects_though_its_fields_share_their_choices(acme, project, other_project):
    # The filter form's fields share their choices with the class's (SharedChoiceField, to spare
    # Django's deep copy of them on every request): an organization's projects must stay its own.
    mine = EventFilterForm({"project": str(project.pk)}, projects=[project])
    theirs = EventFilterForm({"project": str(project.pk)}, projects=[other_project])
    assert mine.is_valid() and not theirs.is_valid()  # a project of another list is an unknown choice
    assert project.name in str(mine["project"]) and project.name not in str(theirs["project"])
    assert other_project.name in str(theirs["project"]) and other_project.name not in str(mine["project"])
    assert list(EventFilterForm.base_fields["project"].choices) == []
    assert EventFilterForm({"method": "NoSuchMethod"}, projects=[]).errors["method"] == [
        "Unknown method “NoSuchMethod”. Pick one from the list."
    ]


def test_more_rows_render_no_more_templates(auditor_client, acme, owner):
    """The rows are one loop in the `events_table` partial, not a template (or a cell template) per
    row, and the htmx swap renders the results (the table inline) and the method drop-down out of
    band, whatever the number of rows."""

    def seed(count, start):
        record_many(
            [
                build_event(
                    organization_id=acme.pk,
                    actor=actor_for(owner),
                    recorded_at=AT - timedelta(seconds=i),
                    **SECRET,
                )
                for i in range(start, start + count)
            ]
        )

    seed(1, 0)
    one = auditor_client.get(URL, WINDOW)
    seed(24, 1)
    many = auditor_client.get(URL, WINDOW)
    results = auditor_client.get(URL, WINDOW, headers=HX_RESULTS)
    assert one.content.count(b"data-event-id=") == 1
    assert many.content.count(b"data-event-id=") == results.content.count(b"data-event-id=") == 25
    assert len(many.templates) == len(one.templates)
    assert [t.name for t in results.templates if not t.name.startswith("django/forms/")] == [
        "results",
        "audit/_event_facets.html",
        "method_field",
    ]


def test_each_row_links_to_its_own_event(auditor_client, acme, owner):
    """Each row's link (href and hx-get) names its own event, never a placeholder."""
    events = [record(acme, actor_for(owner), minutes_ago=i) for i in range(3)]
    html = auditor_client.get(URL, WINDOW).content.decode()
    for event in events:
        assert html.count(f"/audit-trail/events/{event.pk}/?") == 2  # href and hx-get
    assert str(uuid.UUID(int=0)) not in html


def test_the_select_template_prints_what_djangos_own_prints(acme):
    """templates/django/forms/widgets/select.html only inlines select_option.html: groups, several
    selected options, attributes and escaping come out as Django's own templates print them."""

    class Form(forms.Form):
        one = forms.ChoiceField(choices=[("", "—"), ("x", "X <b>"), ("Group", [("g1", "G1"), ("g2", 'G"2')])])
        many = forms.MultipleChoiceField(
            choices=[("p", "P"), ("q", "Q")],
            widget=forms.SelectMultiple(attrs={"class": "c", "disabled": True}),
        )
        maybe = forms.NullBooleanField()

    def tags(html: str) -> str:
        return re.sub(r">\s+<", "><", html.strip())

    for data in ({}, {"one": "g2", "many": ["p", "q"], "maybe": "true"}, {"one": "<nope>"}):
        ours, djangos = Form(data), Form(data, renderer=DjangoTemplates())
        for name in ("one", "many", "maybe"):
            assert tags(str(ours[name])) == tags(str(djangos[name]))


def test_the_filters_parse_into_one_event_query(acme, other_project):
    form = EventFilterForm(
        WINDOW
        | {
            "region": "nl-ams",
            "project": str(other_project.pk),
            "product": "secret-manager",
            "method": "CreateSecret",
            "status": "403",
            "ip": "10.0.0.0/8",
            "q": " stripe ",
        },
        projects=[other_project],
    )
    assert form.is_valid(), form.errors
    query = form.to_query()
    assert query.region == "nl-ams" and query.project_id == other_project.pk
    assert (query.recorded_after, query.recorded_before) == (
        AT - timedelta(hours=1),
        AT + timedelta(minutes=30),
    )
    assert (query.product_name, query.method_name, query.status) == ("secret-manager", "CreateSecret", 403)
    assert (query.source_ip, query.text, query.principal_id, query.request_id) == (
        "10.0.0.0/8",
        "stripe",
        None,
        None,
    )
