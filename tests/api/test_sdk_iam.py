"""Acceptance: the official `scaleway` SDK, unchanged, drives IAM (policies, rules, permission sets,
applications, groups, users, API keys) against a live server; the console shows what it made, the
SDK what the console made, and IAM Logs each write with its principal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as ConsoleClient
from django.utils import timezone
from scaleway.iam.v1alpha1 import (
    IamV1Alpha1API,
    ListPermissionSetsRequestOrderBy,
    ListPoliciesRequestOrderBy,
    RuleSpecs,
)
from scaleway_core.api import ScalewayException

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.logs import iam_log_events
from iam.models import APIKey, Application, Group, Invitation, Membership, Policy
from iam.selectors import log_rows
from tests.api.conftest import api_key_for
from tests.api.test_sdk import sdk_client
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def iam(live_server, acme, iam_manager):
    """The SDK as an IAM manager (IAMManager), not the owner: writes are recorded under them."""
    return IamV1Alpha1API(sdk_client(live_server, acme, api_key_for(iam_manager, acme)))


def console(user) -> ConsoleClient:
    client = ConsoleClient()
    client.force_login(user)
    return client


def test_policies_and_rules_round_trip_and_the_console_shows_them(iam, acme, owner, auditor, project):
    sets = iam.list_permission_sets_all(order_by=ListPermissionSetsRequestOrderBy.NAME_ASC, page_size=5)
    names = [s.name for s in sets]
    assert names == sorted(names) and "AuditTrailReadOnly" in names and len(names) > 5
    audit_set = next(s for s in sets if s.name == "AuditTrailReadOnly")
    assert audit_set.scope_type == "organization" and audit_set.categories == ["Audit Trail"]

    policy = iam.create_policy(
        name="sdk-auditors",
        description="made by the SDK",
        rules=[
            RuleSpecs(condition="", permission_set_names=["AuditTrailReadOnly"], organization_id=str(acme.pk))
        ],
        user_id=str(auditor.pk),
    )
    assert (policy.user_id, policy.nb_rules, policy.editable) == (str(auditor.pk), 1, True)
    assert iam.get_policy(policy_id=policy.id).name == "sdk-auditors"
    listed = iam.list_policies(
        user_ids=[str(auditor.pk)], order_by=ListPoliciesRequestOrderBy.POLICY_NAME_ASC
    )
    assert "sdk-auditors" in [p.name for p in listed.policies]
    assert listed.total_count == len(listed.policies)

    rules = iam.set_rules(
        policy_id=policy.id,
        rules=[
            RuleSpecs(condition="", permission_set_names=["IAMReadOnly"], organization_id=str(acme.pk)),
            RuleSpecs(
                condition="", permission_set_names=["SecretManagerFullAccess"], project_ids=[str(project.pk)]
            ),
        ],
    ).rules
    assert [r.permission_set_names for r in rules] == [["IAMReadOnly"], ["SecretManagerFullAccess"]]
    assert rules[1].project_ids == [str(project.pk)]
    assert len(iam.list_rules(policy_id=policy.id).rules) == 2

    renamed = iam.update_policy(policy_id=policy.id, name="sdk-readers", no_principal=True)
    assert renamed.name == "sdk-readers" and renamed.no_principal and renamed.user_id is None
    clone = iam.clone_policy(policy_id=policy.id)
    assert clone.id != policy.id and clone.nb_rules == 2

    page = console(owner).get("/iam/policies/").content.decode()
    assert "sdk-readers" in page and clone.name in page
    iam.delete_policy(policy_id=clone.id)
    assert not Policy.objects.filter(pk=clone.id).exists()
    with pytest.raises(ScalewayException) as error:
        iam.get_policy(policy_id=clone.id)
    assert error.value.status_code == 404

    # The console's policy, through the SDK.
    made = services.policy_create(
        actor=Actor.of(owner),
        organization=acme,
        name="console-policy",
        rules=[services.RuleSpec(permission_set_names=["ProjectReadOnly"])],
    )
    seen = iam.get_policy(policy_id=str(made.pk))
    assert (seen.name, seen.no_principal, seen.nb_permission_sets) == ("console-policy", True, 1)


def test_a_rule_the_console_would_refuse_the_api_refuses(iam, acme, project):
    with pytest.raises(ScalewayException) as error:
        iam.create_policy(
            name="bad",
            description="",
            rules=[
                RuleSpecs(condition="", permission_set_names=["IAMManager"], project_ids=[str(project.pk)])
            ],
            no_principal=True,
        )
    assert error.value.status_code == 400
    assert "whole organization" in str(error.value.response.json())
    assert not Policy.objects.filter(name="bad").exists()


def test_applications_round_trip_and_the_console_shows_them(iam, acme, owner):
    app = iam.create_application(name="sdk-shipper", description="ships logs")
    assert (app.name, app.nb_api_keys, app.organization_id) == ("sdk-shipper", 0, str(acme.pk))
    assert iam.update_application(application_id=app.id, name="sdk-shipper-2").name == "sdk-shipper-2"
    assert iam.get_application(application_id=app.id).description == "ships logs"
    assert "sdk-shipper-2" in console(owner).get("/iam/applications/").content.decode()
    services.application_create(actor=Actor.of(owner), organization=acme, name="console-app")
    assert {"sdk-shipper-2", "console-app"} <= {a.name for a in iam.list_applications_all()}
    iam.delete_application(application_id=app.id)
    assert not Application.objects.filter(pk=app.id).exists()


def test_groups_and_their_members_round_trip(iam, acme, owner, auditor, member_without_rights):
    app = services.application_create(actor=Actor.of(owner), organization=acme, name="ci")
    group = iam.create_group(name="sdk-team", description="")
    group = iam.add_group_member(group_id=group.id, user_id=str(auditor.pk))
    assert group.user_ids == [str(auditor.pk)]
    group = iam.add_group_members(group_id=group.id, application_ids=[str(app.pk)])
    assert group.application_ids == [str(app.pk)]
    group = iam.set_group_members(
        group_id=group.id, user_ids=[str(member_without_rights.pk)], application_ids=[]
    )
    assert (group.user_ids, group.application_ids) == ([str(member_without_rights.pk)], [])
    group = iam.remove_group_member(group_id=group.id, user_id=str(member_without_rights.pk))
    assert group.user_ids == []
    assert iam.update_group(group_id=group.id, name="sdk-crew").name == "sdk-crew"
    detail = console(owner).get(f"/iam/groups/{group.id}/").content.decode()
    assert "sdk-crew" in detail
    # An account outside the organization cannot join.
    outsider = UserFactory(email="nobody@elsewhere.test")
    with pytest.raises(ScalewayException) as error:
        iam.add_group_member(group_id=group.id, user_id=str(outsider.pk))
    assert error.value.status_code == 404
    made = services.group_create(actor=Actor.of(owner), organization=acme, name="console-group")
    assert "console-group" in [g.name for g in iam.list_groups_all()]
    assert iam.get_group(group_id=str(made.pk)).name == "console-group"
    iam.delete_group(group_id=group.id)
    assert not Group.objects.filter(pk=group.id).exists()


def test_users_list_get_invite_and_remove(iam, acme, owner, auditor):
    users = {u.email: u for u in iam.list_users_all()}
    assert users[owner.email].type_ == "owner" and not users[owner.email].deletable
    assert users[auditor.email].type_ == "member" and users[auditor.email].status == "activated"
    assert iam.get_user(user_id=str(auditor.pk)).email == auditor.email

    invited = iam.create_user(email="newcomer@example.org")
    assert invited.status == "invitation_pending"
    invitation = Invitation.objects.get(organization=acme, email="newcomer@example.org")
    assert invited.id == str(invitation.pk)
    assert "newcomer@example.org" in console(owner).get("/iam/users/").content.decode()
    iam.delete_user(user_id=invited.id)  # cancels the invitation, as the console's Cancel
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.EXPIRED

    with pytest.raises(ScalewayException) as error:
        iam.delete_user(user_id=str(owner.pk))
    assert error.value.status_code == 403
    iam.delete_user(user_id=str(auditor.pk))
    assert not Membership.objects.active().filter(organization=acme, user=auditor).exists()
    with pytest.raises(ScalewayException):
        iam.get_user(user_id=str(auditor.pk))


def test_update_api_key_changes_what_is_given_and_is_audited(iam, acme, project, iam_manager):
    key = APIKey.objects.get(user=iam_manager)
    later = timezone.now() + timedelta(days=30)
    updated = iam.update_api_key(
        access_key=key.access_key, description="rotated", default_project_id=str(project.pk), expires_at=later
    )
    assert (updated.description, updated.default_project_id) == ("rotated", str(project.pk))
    key.refresh_from_db()
    assert key.description == "rotated" and key.expires_at is not None
    event = Event.objects.get(organization_id=acme.pk, method_name="UpdateAPIKey")
    assert event.principal_id == iam_manager.pk and event.resources[0]["id"] == key.access_key
    with pytest.raises(ScalewayException) as error:
        iam.update_api_key(access_key=key.access_key, expires_at=timezone.now() - timedelta(days=1))
    assert error.value.status_code == 400


def test_iam_logs_show_each_api_write_under_its_principal(iam, acme, iam_manager):
    group = iam.create_group(name="logged", description="")
    iam.update_group(group_id=group.id, description="now described")
    app = iam.create_application(name="logged-app", description="")
    policy = iam.create_policy(
        name="logged-policy",
        description="",
        application_id=app.id,
        rules=[RuleSpecs(condition="", permission_set_names=["IAMReadOnly"], organization_id=str(acme.pk))],
    )
    iam.set_rules(
        policy_id=policy.id,
        rules=[
            RuleSpecs(condition="", permission_set_names=["ProjectReadOnly"], organization_id=str(acme.pk))
        ],
    )
    iam.add_group_members(group_id=group.id, application_ids=[app.id])
    events = list(iam_log_events(organization_id=acme.pk))
    rows = log_rows(organization=acme, events=events, may_see_principals=True)
    mine = {(r.log.resource_id, r.action) for r in rows if r.principal == iam_manager.email}
    assert {
        (group.id, "created"),
        (group.id, "updated"),
        (app.id, "created"),
        (policy.id, "created"),
        (policy.id, "updated"),
    } <= mine
    methods = set(
        Event.objects.filter(organization_id=acme.pk, principal_id=iam_manager.pk).values_list(
            "method_name", flat=True
        )
    )
    assert {
        "CreateGroup",
        "UpdateGroup",
        "CreateApplication",
        "CreatePolicy",
        "SetRules",
        "AddGroupMembers",
    } <= methods


def test_without_iam_rights_each_call_is_refused_and_recorded(live_server, acme, member_without_rights):
    iam = IamV1Alpha1API(sdk_client(live_server, acme, api_key_for(member_without_rights, acme)))
    calls = {
        "ListPolicies": lambda: iam.list_policies(),
        "ListPermissionSets": lambda: iam.list_permission_sets(),
        "ListUsers": lambda: iam.list_users(),
        "CreateGroup": lambda: iam.create_group(name="nope", description=""),
        "CreateApplication": lambda: iam.create_application(name="nope", description=""),
    }
    for method, call in calls.items():
        with pytest.raises(ScalewayException) as error:
            call()
        assert error.value.status_code == 403, method
        assert error.value.response.json()["type"] == "permissions_denied"
        refusal = Event.objects.get(organization_id=acme.pk, method_name=method, status_code=403)
        assert refusal.principal_id == member_without_rights.pk
    assert not Group.objects.filter(name="nope").exists()


def test_another_organizations_objects_are_not_found(iam, outsider):
    from iam.models import Organization

    globex = Organization.objects.get(owner=outsider)
    theirs = services.group_create(actor=Actor.of(outsider), organization=globex, name="theirs")
    MembershipFactory(organization=globex, user=UserFactory(email="x@globex.test"))
    with pytest.raises(ScalewayException) as error:
        iam.get_group(group_id=str(theirs.pk))
    assert error.value.status_code == 404
    assert "theirs" not in [g.name for g in iam.list_groups_all()]
    assert str(outsider.pk) not in [u.id for u in iam.list_users_all()]
