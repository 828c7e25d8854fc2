"""The console header: the organization switcher and the Local/UTC time toggle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.services import Actor, build_event, record_many
from tests.factories import MembershipFactory, OrganizationFactory, grant


def _event(organization, method: str):
    return build_event(
        organization_id=organization.pk,
        actor=Actor(principal_type="system", principal_name="Scaleway"),
        product_name="iam",
        service_name="scaleway.iam.v1alpha1.Api",
        method_name=method,
        locality="global",
        recorded_at=timezone.now() - timedelta(minutes=5),
    )


@pytest.fixture
def two_organizations(auditor, acme):
    """The auditor also audits Initech; each organization has one event."""
    initech = OrganizationFactory(name="Initech")
    MembershipFactory(organization=initech, user=auditor)
    grant(auditor, initech, "AuditTrailReadOnly")
    acme_event, initech_event = _event(acme, "CreateGroup"), _event(initech, "DeleteGroup")
    record_many([acme_event, initech_event])
    return initech, acme_event, initech_event


@pytest.mark.django_db
def test_a_member_of_several_organizations_switches_between_them(auditor_client, acme, two_organizations):
    initech, acme_event, initech_event = two_organizations
    page = auditor_client.get("/audit-trail/events/").content.decode()
    assert f'<option value="{acme.pk}" selected>Acme</option>' in page
    assert f'<option value="{initech.pk}">Initech</option>' in page
    assert f'data-event-id="{acme_event.pk}"' in page and f'data-event-id="{initech_event.pk}"' not in page

    response = auditor_client.post(
        "/organization/switch/",
        {"organization": initech.pk, "next": "/audit-trail/events/?status=403"},
    )
    # A filtered list from one organization means nothing in the other: land on the page itself.
    assert response.status_code == 302 and response["Location"] == "/audit-trail/events/"
    page = auditor_client.get("/audit-trail/events/").content.decode()
    assert f'data-event-id="{initech_event.pk}"' in page and f'data-event-id="{acme_event.pk}"' not in page


@pytest.mark.django_db
def test_switching_to_an_organization_one_does_not_belong_to_changes_nothing(auditor_client, acme, outsider):
    globex = outsider.owned_organizations.get()
    auditor_client.post("/organization/switch/", {"organization": globex.pk, "next": "/audit-trail/events/"})
    page = auditor_client.get("/audit-trail/events/").content.decode()
    assert f'<option value="{acme.pk}" selected>Acme</option>' in page
    assert "Globex" not in page


@pytest.mark.django_db
def test_the_switcher_never_redirects_off_site(auditor_client, acme):
    response = auditor_client.post(
        "/organization/switch/", {"organization": acme.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_times_show_the_users_offset_or_utc_by_choice(auditor_client, acme):
    record_many([_event(acme, "CreateGroup")])
    local = auditor_client.get("/audit-trail/events/").content.decode()
    assert "+01:00" in local  # the auditor's zone is Europe/Paris (CET in November)
    auditor_client.post("/preferences/time-display/", {"time_display": "utc", "next": "/audit-trail/events/"})
    utc = auditor_client.get("/audit-trail/events/").content.decode()
    assert "+01:00" not in utc and "+00:00" in utc
    assert 'value="utc" aria-pressed="true"' in utc


@pytest.mark.django_db
def test_the_login_page_shows_no_console_navigation(client):
    html = client.get("/login/").content.decode()
    assert 'class="shell shell-bare"' in html
