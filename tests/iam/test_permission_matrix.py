"""Every IAM console URL, with every persona: the status code, and the 403 event of each refusal.

Reading IAM needs `iam:read` (owner, IAM manager); the logs also open to Audit Trail readers
(the auditor); every change needs `iam:write`. The outsider owns Globex: list pages show Globex,
Acme's objects are 404 for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from audit.models import Event
from audit.services import Actor
from iam import services
from tests.factories import MembershipFactory, UserFactory, grant

PERSONAS = ["owner", "iam_manager", "auditor", "member_without_rights", "outsider"]


@dataclass(frozen=True)
class Case:
    name: str
    http: str  # GET or POST
    url: str  # formatted with the world's ids
    kind: str  # read / logs / write
    method: str  # the Scaleway method a refusal is recorded under
    data: dict[str, Any] | None = None
    object_of_acme: bool = False  # an Acme id in the URL: 404 for the outsider
    success: int = 302  # the status an allowed write answers (plain form post)


RULE = {
    "rules-TOTAL_FORMS": "1",
    "rules-INITIAL_FORMS": "0",
    "rules-0-permission_set_names": ["AuditTrailReadOnly"],
    "rules-0-scope": "organization",
}

CASES = [
    Case("users", "GET", "/iam/users/", "read", "ListUsers"),
    Case("invite", "POST", "/iam/users/invite/", "write", "CreateUser", {"email": "new@acme.test"}),
    Case("remove member", "POST", "/iam/users/{target}/remove/", "write", "DeleteUser", {}, True),
    Case(
        "cancel invitation", "POST", "/iam/invitations/{invitation}/cancel/", "write", "DeleteUser", {}, True
    ),
    Case("applications", "GET", "/iam/applications/", "read", "ListApplications"),
    Case("application", "GET", "/iam/applications/{app}/", "read", "GetApplication", object_of_acme=True),
    Case(
        "create application",
        "POST",
        "/iam/applications/create/",
        "write",
        "CreateApplication",
        {"name": "ci-bot"},
    ),
    Case(
        "rename application",
        "POST",
        "/iam/applications/{app}/",
        "write",
        "UpdateApplication",
        {"name": "renamed"},
        True,
    ),
    Case(
        "delete application",
        "POST",
        "/iam/applications/{app}/delete/",
        "write",
        "DeleteApplication",
        {},
        True,
    ),
    Case("groups", "GET", "/iam/groups/", "read", "ListGroups"),
    Case("group", "GET", "/iam/groups/{group}/", "read", "GetGroup", object_of_acme=True),
    Case("create group", "POST", "/iam/groups/create/", "write", "CreateGroup", {"name": "Ops"}),
    Case("delete group", "POST", "/iam/groups/{group}/delete/", "write", "DeleteGroup", {}, True),
    Case(
        "add group member",
        "POST",
        "/iam/groups/{group}/members/add/",
        "write",
        "AddGroupMember",
        {"member": "user:{target}"},
        True,
    ),
    Case(
        "remove group member",
        "POST",
        "/iam/groups/{group}/members/remove/",
        "write",
        "RemoveGroupMember",
        {"member": "user:{grouped}"},
        True,
    ),
    Case("policies", "GET", "/iam/policies/", "read", "ListPolicies"),
    Case("new policy form", "GET", "/iam/policies/new/", "write", "CreatePolicy", success=200),
    Case("create policy", "POST", "/iam/policies/new/", "write", "CreatePolicy", {"name": "readers", **RULE}),
    Case("policy", "GET", "/iam/policies/{policy}/", "read", "GetPolicy", object_of_acme=True),
    Case(
        "update policy",
        "POST",
        "/iam/policies/{policy}/",
        "write",
        "UpdatePolicy",
        {"name": "renamed", **RULE},
        True,
    ),
    Case("delete policy", "POST", "/iam/policies/{policy}/delete/", "write", "DeletePolicy", {}, True),
    Case("api keys", "GET", "/iam/api-keys/", "read", "ListAPIKeys"),
    Case(
        "create api key",
        "POST",
        "/iam/api-keys/create/",
        "write",
        "CreateAPIKey",
        {"bearer": "me", "description": "x"},
        success=200,
    ),
    Case("delete api key", "POST", "/iam/api-keys/{key}/delete/", "write", "DeleteAPIKey", {}, True),
    Case("logs", "GET", "/iam/logs/", "logs", "ListLogs"),
    Case("log entry", "GET", "/iam/logs/{log}/", "logs", "GetLog", object_of_acme=True),
]

ALLOWED = {
    "read": {"owner", "iam_manager"},
    "write": {"owner", "iam_manager"},
    "logs": {"owner", "iam_manager", "auditor"},
}


@pytest.fixture
def world(acme, owner, iam_manager, auditor, member_without_rights, outsider, app, group):
    target = UserFactory(email="target@acme.test")
    MembershipFactory(organization=acme, user=target)
    grouped = UserFactory(email="grouped@acme.test")
    MembershipFactory(organization=acme, user=grouped)
    group.users.add(grouped)
    actor = Actor.of(owner)
    policy = grant(group, acme, "IAMReadOnly")
    key, _ = services.api_key_create(actor=actor, organization=acme, user=owner)
    invitation, _ = services.user_invite(actor=actor, organization=acme, email="invited@example.org")
    log = Event.objects.filter(organization_id=acme.pk, method_name="CreateAPIKey").get()
    return {
        "target": target.pk,
        "grouped": grouped.pk,
        "app": app.pk,
        "group": group.pk,
        "policy": policy.pk,
        "key": key.access_key,
        "invitation": invitation.pk,
        "log": log.pk,
    }


def _format(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_format(v, ids) for v in value]
    return value


def _expected(case: Case, persona: str) -> int:
    if persona == "outsider":
        if case.object_of_acme:
            return 404
        return 200 if case.http == "GET" else case.success  # their own organization, Globex
    if persona in ALLOWED[case.kind]:
        return 200 if case.http == "GET" else case.success
    return 403


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_iam_url_answers_each_persona_as_its_rights_say(request, case, persona, world, acme):
    user = request.getfixturevalue(persona)
    client = Client()
    client.force_login(user)
    url = case.url.format(**world)
    data = {k: _format(v, world) for k, v in (case.data or {}).items()}
    refused_before = Event.objects.filter(status_code=403).count()

    response = client.get(url) if case.http == "GET" else client.post(url, data)

    expected = _expected(case, persona)
    assert response.status_code == expected, response.content[:2000]
    refusals = Event.objects.filter(status_code=403)
    if expected == 403:
        event = refusals.get(organization_id=acme.pk, principal_id=user.pk)
        assert event.method_name == case.method
        assert event.product_name == "iam"
        assert event.locality == "global"
        assert event.region == "fr-par"
        assert event.request_id == response["X-Request-Id"]
    else:
        assert refusals.count() == refused_before
    if persona == "outsider" and expected != 404:
        # Globex's pages never show Acme's data.
        assert b"billing-bot" not in response.content
        assert b"target@acme.test" not in response.content
