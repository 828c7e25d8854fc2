"""Signing in lands each persona on a page it may use, and the sidebar offers only such pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import Event
from tests.factories import PASSWORD, MembershipFactory, UserFactory, grant

LANDINGS = [
    ("owner", "/audit-trail/events/"),
    ("auditor", "/audit-trail/events/"),
    ("iam_manager", "/iam/users/"),
    ("outsider", "/audit-trail/events/"),
]


def _sign_in(user) -> tuple[Client, object]:
    client = Client()
    response = client.post("/login/", {"username": user.email, "password": PASSWORD}, follow=True)
    return client, response


def _sidebar(page: str) -> dict[str, str]:
    nav = re.search(r'<nav class="sidebar".*?</nav>', page, re.S).group(0)
    return {label: href for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)}


@pytest.fixture
def staff(db):
    return UserFactory(email="staff@audit-trail.test", is_staff=True, is_superuser=True)


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "landing"), LANDINGS)
def test_signing_in_lands_on_the_first_page_the_persona_may_use(request, acme, persona, landing):
    user = request.getfixturevalue(persona)
    _client, response = _sign_in(user)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == landing
    assert not Event.objects.filter(status_code=403).exists()


@pytest.mark.django_db
def test_the_iam_manager_signs_in_without_a_403_in_their_name(acme, iam_manager):
    client, response = _sign_in(iam_manager)
    assert response.status_code == 200
    assert client.get("/").status_code == 302
    assert not Event.objects.filter(principal_id=iam_manager.pk, status_code=403).exists()


@pytest.mark.django_db
def test_staff_without_an_organization_land_on_the_django_admin(staff):
    _client, response = _sign_in(staff)
    assert response.redirect_chain[-1][0] == "/admin/"
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_member_without_any_page_gets_a_page_saying_so_not_a_403(acme, member_without_rights):
    client, response = _sign_in(member_without_rights)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/"
    page = response.content.decode()
    assert "There is no page you can open yet" in page
    assert "AuditTrailReadOnly" in page and "Acme" in page
    assert _sidebar(page) == {}  # no section (the brand aside)
    assert not Event.objects.filter(status_code=403).exists()
    # Reloading stays there: no redirect loop.
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_a_user_of_no_organization_is_told_so(db):
    loner = UserFactory(email="loner@example.test")
    _client, response = _sign_in(loner)
    assert response.status_code == 200
    assert "does not belong to any organization" in response.content.decode()


@pytest.mark.django_db
def test_the_auditor_sidebar_offers_iam_logs_and_no_contacts(auditor_client):
    page = auditor_client.get("/audit-trail/events/").content.decode()
    sidebar = _sidebar(page)
    assert sidebar["IAM"] == "/iam/logs/"
    assert "Notification contacts" not in sidebar
    logs = auditor_client.get("/iam/logs/").content.decode()
    tabs = re.search(r'<nav class="tabs" aria-label="IAM">.*?</nav>', logs, re.S).group(0)
    assert re.findall(r">([^<]+)</a>", tabs) == ["Logs"]


@pytest.mark.django_db
def test_the_iam_manager_sidebar_has_no_audit_trail(iam_manager):
    client = Client()
    client.force_login(iam_manager)
    sidebar = _sidebar(client.get("/iam/users/").content.decode())
    assert "IAM" in sidebar
    assert "Notification contacts" not in sidebar
    assert not any(href.startswith("/audit-trail/") for href in sidebar.values())


@pytest.mark.django_db
def test_the_owner_sidebar_has_every_section(owner_client):
    sidebar = _sidebar(owner_client.get("/audit-trail/events/").content.decode())
    assert sidebar == {
        "Audit Trail": "/audit-trail/events/",
        "IAM": "/iam/users/",
        "Notification contacts": "/contacts/",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["owner", "auditor", "iam_manager", "member_without_rights", "outsider"])
def test_every_sidebar_link_opens(request, acme, persona):
    user = request.getfixturevalue(persona)
    client = Client()
    client.force_login(user)
    page = client.get("/", follow=True).content.decode()
    for href in _sidebar(page).values():
        assert client.get(href, follow=True).status_code == 200, href
    assert not Event.objects.filter(status_code=403).exists()


@pytest.mark.django_db
def test_a_contacts_reader_lands_on_notification_contacts(acme):
    reader = UserFactory(email="notify@acme.test")
    MembershipFactory(organization=acme, user=reader)
    grant(reader, acme, "NotificationManagerReadOnly")
    _client, response = _sign_in(reader)
    assert response.redirect_chain[-1][0] == "/contacts/"
    assert response.status_code == 200
