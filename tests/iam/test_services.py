from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.models import APIKey, Group, Invitation, Membership, Policy, User
from iam.permissions import has_permission
from iam.services import RuleSpec
from tests.factories import UserFactory


def _events(org, method):
    return Event.objects.filter(organization_id=org.pk, method_name=method).order_by("recorded_at", "id")


@pytest.mark.django_db
def test_creating_an_organization_is_scaleway_creating_its_three_default_groups(owner):
    organization = services.organization_create(name="Initech", owner=owner)

    groups = Group.objects.filter(organization=organization)
    assert sorted(groups.values_list("name", flat=True)) == ["Administrators", "Auditors", "Project Managers"]
    created = list(_events(organization, "CreateGroup"))
    assert len(created) == 3
    assert {e.principal_type for e in created} == {"system"}
    assert {e.principal_name for e in created} == {"Scaleway"}
    assert all(e.principal_id is None and e.locality == "global" and e.region == "fr-par" for e in created)
    administrators = groups.get(name="Administrators")
    assert administrators.policies.get().rules.get().permission_set_names == ["OrganizationManager"]
    # and the group does what it says: a member of Administrators manages the organization
    admin = UserFactory()
    Membership.objects.create(organization=organization, user=admin)
    administrators.users.add(admin)
    assert has_permission(admin, organization, "iam:write")


@pytest.mark.django_db
def test_inviting_an_unknown_address_creates_a_pending_user_and_mails_a_link(
    acme, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = services.user_invite(
            actor=Actor.of(owner), organization=acme, email="new@example.org", invited_by=owner
        )
    assert invitation.user.email == "new@example.org"
    assert not invitation.user.has_usable_password()
    assert invitation.token_hash != token and token not in invitation.token_hash
    (event,) = _events(acme, "CreateUser")
    assert event.principal_id == owner.pk
    assert event.resources[0]["type"] == "iam_user"
    assert event.request_body == {"email": "new@example.org", "organization_id": str(acme.pk)}
    (message,) = mail.outbox
    assert message.to == ["new@example.org"]
    assert f"/iam/invitations/{token}/" in message.body


@pytest.mark.django_db
def test_accepting_an_invitation_is_scaleway_adding_the_user(acme, owner):
    invitation, _ = services.user_invite(actor=Actor.of(owner), organization=acme, email="new@example.org")
    user = services.invitation_accept(invitation=invitation, password="a-long-enough-password")

    assert Membership.objects.active().filter(organization=acme, user=user).exists()
    assert user.check_password("a-long-enough-password")
    (event,) = _events(acme, "UpdateUser")
    assert (event.principal_type, event.principal_name) == ("system", "Scaleway")
    assert event.resources[0]["id"] == str(user.pk)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    with pytest.raises(services.IamError):
        services.invitation_accept(invitation=invitation)


@pytest.mark.django_db
def test_rejecting_an_invitation_deletes_the_pending_user_as_scaleway(acme, owner):
    invitation, _ = services.user_invite(actor=Actor.of(owner), organization=acme, email="new@example.org")
    user_id = invitation.user_id
    services.invitation_reject(invitation=invitation)

    assert not User.objects.filter(pk=user_id).exists()
    (event,) = _events(acme, "DeleteUser")
    assert event.principal_type == "system"
    assert event.resources[0]["id"] == str(invitation.pk)  # the invitation, never the account


@pytest.mark.django_db
def test_rejecting_keeps_an_account_that_existed_before_and_records_the_same_event(acme, owner, outsider):
    invitation, _ = services.user_invite(actor=Actor.of(owner), organization=acme, email=outsider.email)
    services.invitation_reject(invitation=invitation)
    assert User.objects.filter(pk=outsider.pk).exists()
    (event,) = _events(acme, "DeleteUser")
    assert event.resources[0]["id"] == str(invitation.pk)


@pytest.mark.django_db
def test_an_expired_invitation_cannot_be_accepted_and_the_sweep_closes_it(acme, owner):
    invitation, _ = services.user_invite(actor=Actor.of(owner), organization=acme, email="late@example.org")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    invitation.refresh_from_db()
    assert invitation.effective_status == Invitation.Status.EXPIRED
    with pytest.raises(services.IamError):
        services.invitation_accept(invitation=invitation, password="a-long-enough-password")

    assert services.invitations_expire() == 1
    assert services.invitations_expire() == 0  # idempotent
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.EXPIRED
    assert not User.objects.filter(email="late@example.org").exists()


@pytest.mark.django_db
def test_inviting_a_member_twice_is_refused(acme, owner, auditor):
    with pytest.raises(services.IamError, match="already a member"):
        services.user_invite(actor=Actor.of(owner), organization=acme, email=auditor.email)
    services.user_invite(actor=Actor.of(owner), organization=acme, email="x@example.org")
    with pytest.raises(services.IamError, match="pending invitation"):
        services.user_invite(actor=Actor.of(owner), organization=acme, email="x@example.org")


@pytest.mark.django_db
def test_removing_a_member_keeps_the_membership_and_revokes_what_they_held(acme, owner, iam_manager, group):
    group.users.add(iam_manager)
    key, secret = services.api_key_create(actor=Actor.of(iam_manager), organization=acme, user=iam_manager)
    membership = Membership.objects.get(organization=acme, user=iam_manager)

    services.member_remove(actor=Actor.of(owner), membership=membership)

    membership.refresh_from_db()
    assert membership.removed_at is not None
    assert not group.users.filter(pk=iam_manager.pk).exists()
    assert not Policy.objects.filter(user=iam_manager).exists()
    assert not APIKey.objects.filter(pk=key.pk).exists()
    assert services.api_key_authenticate(secret) is None
    assert not has_permission(iam_manager, acme, "iam:read")
    (event,) = _events(acme, "DeleteUser")
    assert event.principal_id == owner.pk
    assert event.resources[0]["id"] == str(iam_manager.pk)
    assert _events(acme, "DeleteAPIKey").count() == 1


@pytest.mark.django_db
def test_the_owner_cannot_be_removed(acme, owner):
    membership = Membership.objects.create(organization=acme, user=owner)
    with pytest.raises(services.IamError):
        services.member_remove(actor=Actor.of(owner), membership=membership)


@pytest.mark.django_db
def test_policy_rules_name_catalogue_sets_and_a_scope(acme, owner, group, project):
    actor = Actor.of(owner)
    policy = services.policy_create(
        actor=actor,
        organization=acme,
        name="devs",
        principal=group,
        rules=[
            RuleSpec(["AuditTrailReadOnly"]),
            RuleSpec(["SecretManagerFullAccess"], project_ids=[project.pk]),
        ],
    )
    rules = list(policy.rules.order_by("scope_type"))
    assert [(r.scope_type, r.project_ids) for r in rules] == [
        ("organization", []),
        ("projects", [str(project.pk)]),
    ]
    (event,) = _events(acme, "CreatePolicy")
    assert event.request_body["group_id"] == str(group.pk)
    assert event.request_body["rules"][1]["project_ids"] == [str(project.pk)]

    services.policy_update(
        actor=actor, policy=policy, name="devs2", principal=None, rules=[RuleSpec(["IAMReadOnly"])]
    )
    assert list(policy.rules.values_list("permission_set_names", flat=True)) == [["IAMReadOnly"]]
    assert policy.group is None
    assert _events(acme, "UpdatePolicy").get().request_body["no_principal"] is True

    with pytest.raises(services.IamError, match="Unknown permission set"):
        services.policy_update(actor=actor, policy=policy, name="x", rules=[RuleSpec(["GodMode"])])
    services.policy_delete(actor=actor, policy=policy)
    assert _events(acme, "DeletePolicy").count() == 1


@pytest.mark.django_db
def test_a_rule_cannot_name_another_organizations_project(acme, owner, globex_project):
    with pytest.raises(services.IamError, match="outside the organization"):
        services.policy_create(
            actor=Actor.of(owner),
            organization=acme,
            name="p",
            rules=[RuleSpec(["SecretManagerFullAccess"], project_ids=[globex_project.pk])],
        )


@pytest.mark.django_db
def test_applications_and_groups_record_their_scaleway_methods(acme, owner, auditor):
    actor = Actor.of(owner)
    app = services.application_create(actor=actor, organization=acme, name="bot")
    services.application_update(actor=actor, application=app, name="bot2")
    group = services.group_create(actor=actor, organization=acme, name="Ops")
    services.group_member_add(actor=actor, group=group, member=auditor)
    services.group_member_add(actor=actor, group=group, member=app)
    services.group_member_remove(actor=actor, group=group, member=auditor)
    services.group_delete(actor=actor, group=group)
    services.application_delete(actor=actor, application=app)

    methods = list(
        Event.objects.filter(organization_id=acme.pk)
        .order_by("recorded_at", "id")
        .values_list("method_name", flat=True)
    )
    assert methods == [
        "CreateApplication",
        "UpdateApplication",
        "CreateGroup",
        "AddGroupMember",
        "AddGroupMember",
        "RemoveGroupMember",
        "DeleteGroup",
        "DeleteApplication",
    ]
    assert set(Event.objects.filter(organization_id=acme.pk).values_list("product_name", "service_name")) == {
        ("iam", "scaleway.iam.v1alpha1.Api")
    }


@pytest.mark.django_db
def test_a_group_only_takes_members_of_its_organization(acme, owner, outsider):
    group = services.group_create(actor=Actor.of(owner), organization=acme, name="Ops")
    with pytest.raises(services.IamError):
        services.group_member_add(actor=Actor.of(owner), group=group, member=outsider)
