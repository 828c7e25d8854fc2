from __future__ import annotations

import pytest

from audit.models import Event
from iam.permissions import has_permission
from tests.factories import ApplicationFactory, GroupFactory, grant


@pytest.mark.django_db
def test_owner_may_do_everything(owner, acme):
    assert has_permission(owner, acme, "audit_trail:read")
    assert has_permission(owner, acme, "iam:write")


@pytest.mark.django_db
def test_auditor_may_read_the_trail_but_not_manage_iam(auditor, acme):
    assert has_permission(auditor, acme, "audit_trail:read")
    assert not has_permission(auditor, acme, "audit_trail:write")
    assert not has_permission(auditor, acme, "iam:write")


@pytest.mark.django_db
def test_member_without_rights_may_not_read_the_trail(member_without_rights, acme):
    assert not has_permission(member_without_rights, acme, "audit_trail:read")


@pytest.mark.django_db
def test_removed_member_keeps_no_rights(acme, removed_member):
    grant(removed_member, acme, "AuditTrailReadOnly")
    assert not has_permission(removed_member, acme, "audit_trail:read")


@pytest.mark.django_db
def test_outsider_has_no_rights_in_acme(outsider, acme):
    assert not has_permission(outsider, acme, "audit_trail:read")


@pytest.mark.django_db
def test_group_membership_grants_the_groups_policies(member_without_rights, acme):
    group = GroupFactory(organization=acme)
    group.users.add(member_without_rights)
    grant(group, acme, "OrganizationManager")
    assert has_permission(member_without_rights, acme, "audit_trail:read")


@pytest.mark.django_db
def test_project_scoped_rule_does_not_grant_organization_scoped_audit_trail(
    member_without_rights, acme, project
):
    grant(member_without_rights, acme, "AuditTrailReadOnly", project_ids=[str(project.pk)])
    assert not has_permission(member_without_rights, acme, "audit_trail:read", project_id=project.pk)


@pytest.mark.django_db
def test_application_is_granted_through_its_policy(acme):
    app = ApplicationFactory(organization=acme)
    assert not has_permission(app, acme, "audit_trail:read")
    grant(app, acme, "AuditTrailFullAccess")
    assert has_permission(app, acme, "audit_trail:write")


@pytest.mark.django_db
def test_member_without_rights_gets_a_403_page_and_the_attempt_is_recorded(
    member_client, member_without_rights, acme
):
    response = member_client.get("/audit-trail/events/?region=nl-ams")
    assert response.status_code == 403
    assert b"You do not have permission" in response.content
    event = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert event.principal_id == member_without_rights.pk
    assert event.method_name == "ListEvents"
    assert event.region == "nl-ams"
    assert event.request_id == response["X-Request-Id"]


@pytest.mark.django_db
def test_auditor_reaches_the_events_page(auditor_client):
    assert auditor_client.get("/audit-trail/events/").status_code == 200


@pytest.mark.django_db
def test_the_403_page_names_the_permission_sets_the_page_needs(member_client):
    html = member_client.get("/contacts/").content.decode()
    assert "<code>NotificationManagerReadOnly</code>" in html
    assert "AuditTrailReadOnly" not in html
