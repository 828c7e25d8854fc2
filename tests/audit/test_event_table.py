"""The Events table's cells, printed in Python (audit/tables.py): the same markup, links and
escaping as the per-cell templates they replaced, at a cost that does not grow in templates."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.forms import Select
from django.urls import reverse

from audit.filters import EventFilter
from audit.renderers import SELECTS_IN_PYTHON
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


def test_the_date_cell_opens_the_drawer_keeping_the_lists_query(auditor_client, acme, owner):
    event = record(acme, actor_for(owner))
    html = auditor_client.get(URL, WINDOW | {"status": "200"}).content.decode()
    url = (
        f"/audit-trail/events/{event.pk}/?range=custom&amp;after=2026-01-05T09%3A00%3A00Z"
        "&amp;before=2026-01-05T10%3A30%3A00Z&amp;status=200"
    )
    assert (
        f'<tr class="even" data-event-id="{event.pk}"><td class="col-date nowrap">'
        f'<a class="event-link" href="{url}" hx-get="{url}" hx-target="#drawer" hx-swap="outerHTML" '
        'hx-push-url="true" aria-label="Open event CreateSecret at 2026-01-05 11:00:00 +01:00">'
        '<time datetime="2026-01-05T10:00:00Z">2026-01-05 11:00:00 +01:00</time></a></td>'
    ) in html


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
    assert (
        '<td class="col-resources"><span class="resource" title="secret_manager_secret abc">'
        '<span class="resource-type">secret_manager_secret</span> &lt;x&gt;&amp;&#x27;</span>'
        ' <span class="more">+1</span></td>'
    ) in first
    assert '<td class="col-ip mono"><span class="ipv6">2001:db8::1</span></td>' in first
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
    assert '<td class="col-ip mono">212.133.41.37</td>' in third
    assert '<span class="badge badge-danger">403 Forbidden</span>' in third


def test_the_drawer_shows_the_same_status_badge(auditor_client, acme, owner):
    event = record(acme, actor_for(owner), status_code=500)
    html = auditor_client.get(reverse("audit:event", args=[event.pk])).content.decode()
    assert '<p class="drawer-when">\n          <span class="badge badge-warning">500 Error</span>' in html


def _tags(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"method": "CreateSecret"},
        {"product": "iam", "method": "CreateSecret"},  # an error: aria-invalid, aria-describedby
        {"method": '<x>"'},
    ],
)
def test_the_filters_drop_downs_print_what_djangos_select_template_prints(acme, data):
    form = EventFilter(data, organization=acme, projects=[]).form
    form.is_valid()
    names = [name for name, field in form.fields.items() if isinstance(field.widget, Select)]
    assert {"region", "project", "range", "product", "method", "status", "resource_type"} <= set(names)
    djangos = {name: str(form[name]) for name in names}
    form.renderer = SELECTS_IN_PYTHON
    for name in names:
        assert _tags(str(form[name])) == _tags(djangos[name])


def test_rows_and_options_render_no_template_of_their_own(auditor_client, acme, owner):
    """Every cell used to be a template and every <option> two: 50 rows, 236 methods and 113
    resource types were ~1,100 template renders, ~100 ms a page. Now more rows render no more templates,
    and the htmx swap (rows, timeline, the method drop-down out of band) renders its partials and
    the table theme, nothing per row or per option."""

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
    assert not [t.name for t in many.templates if t.name.startswith("django/forms/widgets/select")]
    assert [t.name for t in results.templates] == [
        "results",
        "audit/_events_table.html",
        "_partials/table.html",
        "method_field",
    ]


def test_each_row_links_to_its_own_event(auditor_client, acme, owner):
    """The drawer's URL is reversed once per table and each row fills in its own id."""
    events = [record(acme, actor_for(owner), minutes_ago=i) for i in range(3)]
    html = auditor_client.get(URL, WINDOW).content.decode()
    for event in events:
        assert html.count(f"/audit-trail/events/{event.pk}/?") == 2  # href and hx-get
    assert str(uuid.UUID(int=0)) not in html
