from __future__ import annotations

import logging
import re

import pytest
from django.core import mail
from django.test import Client

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.models import APIKey, Application, Group, Invitation, Membership, Policy
from tests.factories import ApplicationFactory, GroupFactory, grant
from tests.iam.conftest import client_for

HX = {"HX-Request": "true"}
HX_RESULTS = {"HX-Request": "true", "HX-Target": "results"}


@pytest.mark.django_db
def test_owner_creates_an_api_key_and_sees_the_secret_once(owner_client, acme, owner, project):
    created = owner_client.post(
        "/iam/api-keys/create/", {"bearer": "me", "description": "deploy", "default_project": project.pk}
    )
    assert created.status_code == 302
    response = owner_client.get(created["Location"])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r'id="secret-key"[^>]*>([0-9a-f-]{36})<', response.content.decode()).group(1)
    key = APIKey.objects.get()
    assert re.fullmatch(r"SCW[A-Z0-9]{17}", key.access_key)
    assert key.user == owner and key.default_project == project and key.description == "deploy"
    assert services.api_key_authenticate(secret) == key

    listing = owner_client.get("/iam/api-keys/").content.decode()
    assert key.access_key in listing and secret not in listing
    event = Event.objects.get(method_name="CreateAPIKey")
    assert event.principal_id == owner.pk
    assert event.request_id == created["X-Request-Id"]
    assert event.source_ip == "127.0.0.1"


@pytest.mark.django_db
def test_reloading_the_key_created_page_creates_no_second_key_and_shows_the_secret_no_more(
    owner_client, acme, caplog
):
    caplog.set_level(logging.DEBUG)
    created = owner_client.post("/iam/api-keys/create/", {"bearer": "me", "description": "deploy"})
    assert created.status_code == 302
    key = APIKey.objects.get()
    # The secret travels neither in the redirect nor in any URL.
    assert created["Location"] == f"/iam/api-keys/{key.access_key}/created/"
    first = owner_client.get(created["Location"]).content.decode()
    secret = re.search(r'id="secret-key"[^>]*>([0-9a-f-]{36})<', first).group(1)
    assert services.api_key_authenticate(secret) == key

    reload = owner_client.get(created["Location"])
    assert reload.status_code == 200
    page = reload.content.decode()
    assert secret not in page and 'id="secret-key"' not in page
    assert "The secret key was shown once" in page
    assert key.access_key in page
    assert APIKey.objects.count() == 1
    assert Event.objects.filter(method_name="CreateAPIKey").count() == 1
    assert secret not in caplog.text
    assert secret not in str(owner_client.session.items())


@pytest.mark.django_db
def test_the_key_created_page_of_another_organizations_key_is_not_found(outsider_client, owner_key):
    assert outsider_client.get(f"/iam/api-keys/{owner_key.access_key}/created/").status_code == 404


@pytest.mark.django_db
def test_an_api_key_for_an_application_with_an_expiry(owner_client, acme, app):
    response = owner_client.post(
        "/iam/api-keys/create/",
        {"bearer": f"application:{app.pk}", "expires_at": "2099-01-01T10:00"},
        follow=True,
    )
    assert response.status_code == 200
    key = APIKey.objects.get()
    assert key.application == app and key.user is None
    assert key.expires_at.year == 2099


@pytest.mark.django_db
def test_an_api_key_in_the_past_or_for_a_foreign_application_is_a_form_error(owner_client, acme, outsider):
    foreign = ApplicationFactory(organization=outsider.owned_organizations.get())
    response = owner_client.post("/iam/api-keys/create/", {"bearer": "me", "expires_at": "2001-01-01T10:00"})
    assert response.status_code == 200
    assert b"The expiry must be in the future." in response.content
    response = owner_client.post("/iam/api-keys/create/", {"bearer": f"application:{foreign.pk}"})
    assert b"Select a valid choice" in response.content
    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_member_without_rights_is_refused_a_key_and_the_403_is_in_the_trail(
    member_client, member_without_rights, acme
):
    response = member_client.post("/iam/api-keys/create/", {"bearer": "me", "description": "mine"})
    assert response.status_code == 403
    assert not APIKey.objects.exists()
    event = Event.objects.get(status_code=403, method_name="CreateAPIKey")
    assert event.organization_id == acme.pk
    assert event.principal_id == member_without_rights.pk
    assert event.service_name == "scaleway.iam.v1alpha1.Api"
    assert (event.locality, event.region) == ("global", "fr-par")
    assert event.request_body == {"bearer": "me", "description": "mine"}


@pytest.mark.django_db
def test_deleting_a_key_with_htmx_answers_204_and_a_trigger(owner_client, owner_key):
    access_key = owner_key.access_key
    response = owner_client.post(f"/iam/api-keys/{access_key}/delete/", headers=HX)
    assert response.status_code == 204
    assert "iam-changed" in response["HX-Trigger"]
    assert not APIKey.objects.exists()
    event = Event.objects.get(method_name="DeleteAPIKey")
    assert event.resources[0]["id"] == access_key


@pytest.mark.django_db
def test_deleting_a_key_without_javascript_redirects_with_a_message(owner_client, owner_key):
    response = owner_client.post(f"/iam/api-keys/{owner_key.access_key}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/iam/api-keys/"
    assert f"API key {owner_key.access_key} deleted." in response.content.decode()


@pytest.mark.django_db
def test_an_iam_manager_invites_and_the_invitee_accepts_with_a_new_password(
    iam_manager_client, acme, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = iam_manager_client.post("/iam/users/invite/", {"email": "newcomer@example.org"})
    assert response.status_code == 302
    token = re.search(r"/iam/invitations/([^/]+)/", mail.outbox[0].body).group(1)

    page = client.get(f"/iam/invitations/{token}/")
    assert b"Join Acme" in page.content
    response = client.post(
        f"/iam/invitations/{token}/",
        {"decision": "accept", "password1": "a-long-enough-password", "password2": "a-long-enough-password"},
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert Membership.objects.active().filter(organization=acme, user=invitation.user).exists()
    added = Event.objects.get(method_name="UpdateUser")
    assert added.principal_name == "Scaleway"
    # the new member is signed in
    assert client.get("/iam/logs/").status_code == 403


@pytest.mark.django_db
def test_an_invitee_may_decline(owner_client, acme, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/iam/users/invite/", {"email": "newcomer@example.org"})
    token = re.search(r"/iam/invitations/([^/]+)/", mail.outbox[0].body).group(1)
    response = client.post(f"/iam/invitations/{token}/", {"decision": "reject"}, follow=True)
    assert b"This invitation was declined." in response.content
    assert Invitation.objects.get().status == Invitation.Status.REJECTED


@pytest.mark.django_db
def test_a_cancelled_invitation_is_recorded_under_the_administrator_who_cancelled_it(
    iam_manager_client, acme, iam_manager
):
    iam_manager_client.post("/iam/users/invite/", {"email": "newcomer@example.org"})
    invitation = Invitation.objects.get()

    response = iam_manager_client.post(f"/iam/invitations/{invitation.pk}/cancel/")

    assert response.status_code == 302
    deleted = Event.objects.get(method_name="DeleteUser")
    assert (deleted.principal_id, deleted.principal_name) == (iam_manager.pk, iam_manager.email)
    assert deleted.request_id == response["X-Request-Id"]


@pytest.mark.django_db
def test_an_unknown_invitation_token_is_404(client):
    assert client.get("/iam/invitations/nope/").status_code == 404


@pytest.mark.django_db
def test_an_existing_account_logs_in_before_accepting(
    owner_client, acme, outsider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/iam/users/invite/", {"email": outsider.email})
    token = re.search(r"/iam/invitations/([^/]+)/", mail.outbox[0].body).group(1)
    anonymous = Client()
    response = anonymous.post(f"/iam/invitations/{token}/", {"decision": "accept"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    response = client_for(outsider).post(f"/iam/invitations/{token}/", {"decision": "accept"})
    assert response.status_code == 302
    assert Membership.objects.active().filter(organization=acme, user=outsider).exists()


@pytest.mark.django_db
def test_inviting_a_member_again_is_a_form_error(owner_client, auditor):
    response = owner_client.post("/iam/users/invite/", {"email": auditor.email})
    assert response.status_code == 200
    assert b"already a member" in response.content


@pytest.mark.django_db
def test_removing_a_member_from_the_users_page(owner_client, acme, auditor):
    response = owner_client.post(f"/iam/users/{auditor.pk}/remove/", headers=HX)
    assert response.status_code == 204
    assert Membership.objects.get(user=auditor).removed_at is not None
    assert auditor.email not in owner_client.get("/iam/users/").content.decode()


@pytest.mark.django_db
def test_applications_are_created_renamed_and_deleted(owner_client, acme):
    owner_client.post("/iam/applications/create/", {"name": "bot", "description": "CI"})
    app = Application.objects.get()
    owner_client.post(f"/iam/applications/{app.pk}/", {"name": "robot"})
    app.refresh_from_db()
    assert app.name == "robot"
    owner_client.post(f"/iam/applications/{app.pk}/delete/")
    assert not Application.objects.exists()
    methods = list(Event.objects.order_by("recorded_at", "id").values_list("method_name", flat=True))
    assert methods == ["CreateApplication", "UpdateApplication", "DeleteApplication"]


@pytest.mark.django_db
def test_an_empty_application_name_is_a_form_error(owner_client, acme):
    response = owner_client.post("/iam/applications/create/", {"name": ""})
    assert response.status_code == 200
    assert b"This field is required." in response.content


@pytest.mark.django_db
def test_groups_gain_and_lose_members(owner_client, acme, auditor, app):
    owner_client.post("/iam/groups/create/", {"name": "Ops"})
    group = Group.objects.get(name="Ops")
    owner_client.post(f"/iam/groups/{group.pk}/members/add/", {"member": f"user:{auditor.pk}"})
    owner_client.post(f"/iam/groups/{group.pk}/members/add/", {"member": f"application:{app.pk}"})
    assert list(group.users.all()) == [auditor] and list(group.applications.all()) == [app]
    owner_client.post(f"/iam/groups/{group.pk}/members/remove/", {"member": f"user:{auditor.pk}"})
    assert not group.users.exists()
    response = owner_client.post(f"/iam/groups/{group.pk}/members/add/", {"member": "user:not-a-uuid"})
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    owner_client.post(f"/iam/groups/{group.pk}/delete/")
    assert not Group.objects.filter(name="Ops").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("stranger", ["outsider", "auditor"])
def test_removing_someone_who_is_not_in_the_group_records_nothing(
    request, owner_client, acme, group, stranger
):
    """Another organization's user (or a member outside the group) is answered as an unknown id:
    no RemoveGroupMember event for a removal that did not happen, nothing that tells ids apart."""
    user = request.getfixturevalue(stranger)
    before = Event.objects.count()

    response = owner_client.post(f"/iam/groups/{group.pk}/members/remove/", {"member": f"user:{user.pk}"})

    assert response.status_code == 302
    assert Event.objects.count() == before
    assert b"Choose a member of the group." in owner_client.get(response["Location"]).content


@pytest.mark.django_db
def test_policies_are_created_and_edited_with_rules_and_scopes(owner_client, acme, group, project):
    data = {
        "name": "devs",
        "principal": f"group:{group.pk}",
        "rules-TOTAL_FORMS": "2",
        "rules-INITIAL_FORMS": "0",
        "rules-0-permission_set_names": ["AuditTrailReadOnly", "IAMReadOnly"],
        "rules-0-scope": "organization",
        "rules-1-permission_set_names": ["SecretManagerFullAccess"],
        "rules-1-scope": "projects",
        "rules-1-project_ids": [str(project.pk)],
    }
    assert owner_client.post("/iam/policies/new/", data).status_code == 302
    policy = Policy.objects.get(name="devs")
    assert policy.group == group
    assert sorted(r.scope_type for r in policy.rules.all()) == ["organization", "projects"]

    page = owner_client.get(f"/iam/policies/{policy.pk}/").content.decode()
    assert 'value="SecretManagerFullAccess" checked' in page or "SecretManagerFullAccess" in page

    data.update({"name": "devs-v2", "rules-TOTAL_FORMS": "1"})
    owner_client.post(f"/iam/policies/{policy.pk}/", data)
    policy.refresh_from_db()
    assert policy.name == "devs-v2" and policy.rules.count() == 1
    assert Event.objects.filter(method_name="UpdatePolicy").count() == 1


@pytest.mark.django_db
def test_a_policy_without_rules_or_with_an_org_only_set_on_projects_is_refused(owner_client, acme, project):
    empty = {"name": "p", "rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "0"}
    response = owner_client.post("/iam/policies/new/", empty)
    assert response.status_code == 200 and b"at least one rule" in response.content
    bad_scope = {
        **empty,
        "rules-0-permission_set_names": ["AuditTrailReadOnly"],
        "rules-0-scope": "projects",
        "rules-0-project_ids": [str(project.pk)],
    }
    response = owner_client.post("/iam/policies/new/", bad_scope)
    assert b"can only be granted on the whole organization" in response.content
    assert not Policy.objects.filter(name="p").exists()


@pytest.mark.django_db
def test_another_organizations_object_is_404_for_the_owner_too(owner_client, outsider):
    foreign = GroupFactory(organization=outsider.owned_organizations.get())
    assert owner_client.get(f"/iam/groups/{foreign.pk}/").status_code == 404
    assert owner_client.post(f"/iam/groups/{foreign.pk}/delete/").status_code == 404
    assert Group.objects.filter(pk=foreign.pk).exists()


LIST_URLS = ["/iam/users/", "/iam/applications/", "/iam/groups/", "/iam/policies/", "/iam/api-keys/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", LIST_URLS)
def test_list_regions_full_page_partial_and_history_restore(owner_client, acme, url):
    partial = owner_client.get(url, headers=HX_RESULTS).content.decode()
    assert "<html" not in partial and partial.lstrip().startswith('<section id="results"')
    assert "<html" in owner_client.get(url).content.decode()
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in owner_client.get(url, headers=restore).content.decode()


@pytest.fixture
def populated(acme, owner, auditor, iam_manager, project):
    actor = Actor.of(owner)
    for i in range(4):
        app = ApplicationFactory(organization=acme)
        services.api_key_create(actor=actor, organization=acme, application=app, default_project=project)
        group = GroupFactory(organization=acme)
        group.users.add(auditor)
        grant(group, acme, "IAMReadOnly")
        services.user_invite(actor=actor, organization=acme, email=f"invitee{i}@example.org")


# session, user, organizations, then the page's own reads (no N+1 over rows)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "full", "partial"),
    [
        ("/iam/users/", 6, 6),  # + memberships, owner, invitations
        ("/iam/applications/", 5, 5),
        ("/iam/groups/", 5, 5),
        ("/iam/policies/", 6, 6),  # + policies, rules
        ("/iam/api-keys/", 7, 5),  # full page: + applications and projects of the create form
    ],
)
def test_list_query_counts(owner_client, populated, url, full, partial, django_assert_num_queries):
    owner_client.get(url)
    with django_assert_num_queries(full):
        owner_client.get(url)
    with django_assert_num_queries(partial):
        owner_client.get(url, headers=HX_RESULTS)
