"""IAM API writes (policies, groups, applications, users): validated as the console validates,
refused (and the refusal recorded) without the right, and recorded under the console's names."""

from __future__ import annotations

import json

import pytest

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.models import Group, Invitation, Policy
from tests.api.conftest import ApiClient, api_key_for

pytestmark = pytest.mark.django_db

POLICIES = "/iam/v1alpha1/policies"


def post(client, path, body, method="POST"):
    return client.generic(method, path, json.dumps(body), content_type="application/json")


def problems(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "invalid_arguments"
    return {d["argument_name"]: d["help_message"] for d in body["details"]}


def org_rule(organization, *names):
    return {"permission_set_names": list(names or ["IAMReadOnly"]), "organization_id": str(organization.pk)}


@pytest.fixture
def manager_api(iam_manager, acme):
    return ApiClient(api_key_for(iam_manager, acme)[1])


def test_a_policy_names_at_most_one_principal(manager_api, acme, auditor):
    group = services.group_create(actor=Actor.system(), organization=acme, name="g")
    body = {"name": "p", "rules": [org_rule(acme)], "user_id": str(auditor.pk), "group_id": str(group.pk)}
    assert "group_id" in problems(post(manager_api, POLICIES, body))
    assert not Policy.objects.filter(name="p").exists()


def test_a_policy_for_someone_outside_the_organization_is_refused(
    manager_api, acme, removed_member, outsider
):
    for user in (removed_member, outsider):
        body = {"name": "p", "rules": [org_rule(acme)], "user_id": str(user.pk)}
        response = post(manager_api, POLICIES, body)
        assert (response.status_code, response.json()["resource"]) == (404, "user")
    assert not Policy.objects.filter(name="p").exists()


def test_a_rule_scoped_to_another_organization_or_project_is_refused(manager_api, acme, outsider):
    from iam.models import Organization, Project

    globex = Organization.objects.get(owner=outsider)
    theirs = Project.objects.create(organization=globex, name="theirs")
    body = {"name": "p", "rules": [org_rule(globex)], "no_principal": True}
    response = post(manager_api, POLICIES, body)
    assert (response.status_code, response.json()["type"]) == (403, "permissions_denied")
    assert Event.objects.filter(organization_id=acme.pk, method_name="CreatePolicy", status_code=403).exists()
    body["rules"] = [{"permission_set_names": ["SecretManagerFullAccess"], "project_ids": [str(theirs.pk)]}]
    response = post(manager_api, POLICIES, body)
    assert (response.status_code, response.json()["resource"]) == (404, "project")
    assert not Policy.objects.filter(name="p").exists()


@pytest.mark.parametrize(
    ("body", "argument"),
    [
        ({"name": "", "rules": "R"}, "name"),
        ({"name": "x" * 65, "rules": "R"}, "name"),
        ({"name": "line\nbreak", "rules": "R"}, "name"),
        ({"name": "p", "rules": []}, "rules"),
        ({"name": "p"}, "rules"),
        ({"name": "p", "rules": "R", "tags": ["prod"]}, "tags"),
        ({"name": "p", "rules": [{"permission_set_names": ["NoSuchSet"]}]}, "rules.0.permission_set_names"),
        (
            {"name": "p", "rules": [{"permission_set_names": ["IAMReadOnly"], "condition": "x"}]},
            "rules.0.condition",
        ),
    ],
)
def test_policy_arguments_are_checked_as_the_console_checks_them(manager_api, acme, body, argument):
    if body.get("rules") == "R":
        body["rules"] = [org_rule(acme)]
    assert argument in problems(post(manager_api, POLICIES, body))
    assert not Event.objects.filter(organization_id=acme.pk, method_name="CreatePolicy").exists()


def test_update_keeps_what_is_left_out_and_records_update_policy(manager_api, acme, auditor, iam_manager):
    policy = services.policy_create(
        actor=Actor.system(),
        organization=acme,
        name="keep",
        description="kept",
        principal=auditor,
        rules=[services.RuleSpec(permission_set_names=["AuditTrailReadOnly"])],
    )
    response = post(manager_api, f"{POLICIES}/{policy.pk}", {"name": "renamed"}, method="PATCH")
    assert response.status_code == 200
    assert (response.json()["description"], response.json()["user_id"]) == ("kept", str(auditor.pk))
    assert [r.permission_set_names for r in policy.rules.all()] == [["AuditTrailReadOnly"]]
    event = Event.objects.get(organization_id=acme.pk, method_name="UpdatePolicy")
    assert event.principal_id == iam_manager.pk and event.request_body["name"] == "renamed"


def test_list_policies_filters_orders_and_counts(manager_api, acme, auditor):
    for name in ("b-policy", "a-policy", "c-policy"):
        services.policy_create(
            actor=Actor.system(), organization=acme, name=name, rules=[services.RuleSpec(["IAMReadOnly"])]
        )
    page = manager_api.get(POLICIES, {"no_principal": "true", "order_by": "policy_name_desc", "page_size": 2})
    assert [p["name"] for p in page.json()["policies"]] == ["c-policy", "b-policy"]
    assert page.json()["total_count"] == 3
    second = manager_api.get(
        POLICIES, {"no_principal": "true", "order_by": "policy_name_desc", "page_size": 2, "page": 2}
    )
    assert [p["name"] for p in second.json()["policies"]] == ["a-policy"]
    assert manager_api.get(POLICIES, {"tag": "prod"}).json()["total_count"] == 0
    bad = manager_api.get(POLICIES, {"order_by": "name_asc"})
    assert "order_by" in problems(bad)


def test_a_reader_may_list_but_not_write_and_the_refusal_is_recorded(acme):
    from tests.conftest import _member

    reader = _member(acme, "reader@acme.test", "IAMReadOnly")
    api = ApiClient(api_key_for(reader, acme)[1])
    assert api.get(POLICIES).status_code == 200
    assert api.get("/iam/v1alpha1/groups").status_code == 200
    response = post(api, "/iam/v1alpha1/groups", {"name": "nope"})
    assert (response.status_code, response.json()["type"]) == (403, "permissions_denied")
    refusal = Event.objects.get(organization_id=acme.pk, method_name="CreateGroup", status_code=403)
    assert refusal.principal_id == reader.pk
    assert not Group.objects.filter(name="nope").exists()


def test_an_auditor_cannot_read_iam(acme, auditor_api, auditor):
    response = auditor_api.get(POLICIES)
    assert (response.status_code, response.json()["type"]) == (403, "permissions_denied")
    assert Event.objects.filter(
        organization_id=acme.pk, method_name="ListPolicies", principal_id=auditor.pk
    ).exists()


def test_group_members_are_the_organizations_and_only_members_leave(manager_api, acme, auditor, outsider):
    group = services.group_create(actor=Actor.system(), organization=acme, name="team")
    path = f"/iam/v1alpha1/groups/{group.pk}"
    assert "user_id" in problems(post(manager_api, f"{path}/add-member", {}))
    both = {"user_id": str(auditor.pk), "application_id": str(auditor.pk)}
    assert "user_id" in problems(post(manager_api, f"{path}/add-member", both))
    assert post(manager_api, f"{path}/members", {"user_ids": [str(outsider.pk)]}, "PUT").status_code == 404
    assert post(manager_api, f"{path}/remove-member", {"user_id": str(outsider.pk)}).status_code == 404
    not_in_group = post(manager_api, f"{path}/remove-member", {"user_id": str(auditor.pk)})
    assert (not_in_group.status_code, not_in_group.json()["user_ids"]) == (200, [])  # nothing to leave
    assert not Event.objects.filter(
        organization_id=acme.pk, method_name__in=["AddGroupMember", "SetGroupMembers", "RemoveGroupMember"]
    ).exists()
    assert post(manager_api, f"{path}/add-member", {"user_id": str(auditor.pk)}).status_code == 200
    assert post(manager_api, f"{path}/remove-member", {"user_id": str(auditor.pk)}).status_code == 200
    methods = list(
        Event.objects.filter(organization_id=acme.pk, resources__0__id=str(group.pk)).values_list(
            "method_name", flat=True
        )
    )
    assert {"AddGroupMember", "RemoveGroupMember"} <= set(methods)


def test_users_the_owner_stays_an_invitation_is_once(manager_api, acme, owner):
    response = manager_api.delete(f"/iam/v1alpha1/users/{owner.pk}")
    assert (response.status_code, response.json()["type"]) == (403, "resource_locked")
    assert manager_api.get(f"/iam/v1alpha1/users/{owner.pk}").json()["type"] == "owner"
    assert not Event.objects.filter(organization_id=acme.pk, method_name="DeleteUser").exists()
    assert post(manager_api, "/iam/v1alpha1/users", {"email": "new@example.org"}).status_code == 200
    again = post(manager_api, "/iam/v1alpha1/users", {"email": "new@example.org"})
    assert "pending invitation" in problems(again)["email"]
    assert "email" in problems(post(manager_api, "/iam/v1alpha1/users", {"email": "not an address"}))
    assert Invitation.objects.filter(organization=acme, email="new@example.org").count() == 1


def test_an_api_key_refuses_a_past_expiry_and_another_organizations_project(
    manager_api, acme, iam_manager, outsider
):
    from iam.models import APIKey, Organization, Project

    key = APIKey.objects.get(user=iam_manager)
    theirs = Project.objects.create(organization=Organization.objects.get(owner=outsider), name="theirs")
    path = f"/iam/v1alpha1/api-keys/{key.access_key}"
    assert "expires_at" in problems(post(manager_api, path, {"expires_at": "2001-01-01T00:00:00Z"}, "PATCH"))
    assert "default_project_id" in problems(
        post(manager_api, path, {"default_project_id": str(theirs.pk)}, "PATCH")
    )
    assert not Event.objects.filter(organization_id=acme.pk, method_name="UpdateAPIKey").exists()


def test_the_service_refuses_an_organization_set_on_projects_whatever_the_door(acme, owner, project):
    with pytest.raises(services.IamError, match="whole organization"):
        services.policy_create(
            actor=Actor.of(owner),
            organization=acme,
            name="x",
            rules=[services.RuleSpec(["IAMManager"], project_ids=[project.pk])],
        )
    assert not Policy.objects.filter(name="x").exists()


def test_rules_keep_the_order_they_were_given(manager_api, acme):
    names = [
        "IAMReadOnly",
        "ProjectReadOnly",
        "AuditTrailReadOnly",
        "OrganizationReadOnly",
        "IAMManager",
        "ProjectManager",
    ]
    body = {"name": "ordered", "no_principal": True, "rules": [org_rule(acme, n) for n in names]}
    policy = post(manager_api, POLICIES, body).json()
    listed = manager_api.get("/iam/v1alpha1/rules", {"policy_id": policy["id"]}).json()["rules"]
    assert [r["permission_set_names"] for r in listed] == [[n] for n in names]
    reversed_rules = [org_rule(acme, n) for n in reversed(names)]
    answer = post(
        manager_api, "/iam/v1alpha1/rules", {"policy_id": policy["id"], "rules": reversed_rules}, "PUT"
    )
    assert [r["permission_set_names"] for r in answer.json()["rules"]] == [[n] for n in reversed(names)]


def test_group_names_are_unique_whatever_the_case_through_the_api_too(manager_api, acme):
    """As in the console: a taken name, in any case, is invalid_arguments naming `name`, never a
    500 from the database's constraint, at creation and at rename."""
    assert post(manager_api, "/iam/v1alpha1/groups", {"name": "Admins"}).status_code == 200
    assert "name" in problems(post(manager_api, "/iam/v1alpha1/groups", {"name": "admins"}))
    other = post(manager_api, "/iam/v1alpha1/groups", {"name": "Readers"}).json()
    path = f"/iam/v1alpha1/groups/{other['id']}"
    assert "name" in problems(post(manager_api, path, {"name": "ADMINS"}, "PATCH"))
    assert post(manager_api, path, {"name": "readers"}, "PATCH").json()["name"] == "readers"  # its own name
    assert sorted(acme.groups.values_list("name", flat=True)) == ["Admins", "readers"]
