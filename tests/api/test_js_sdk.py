"""Acceptance: Scaleway's official JavaScript SDK (npm `@scaleway/sdk-audit-trail` and
`@scaleway/sdk-iam` 1.6.0 on `@scaleway/sdk-client` 1.3.3, pinned in tests/js/package-lock.json),
unchanged, against a live server.

tests/js/sdk.mjs calls every method the Audit Trail package defines and every IAM method we serve
(logs, API keys, policies, rules, permission sets, applications, groups and their members, users),
one line each, and prints what each returned. Here each answer is compared with what the console
reads from the database, and what the SDK made with the console's IAM pages. IAM's methods we
deliberately do not serve are listed in OUT_OF_SCOPE_BY_REASON; a method in scope we do not serve
yet is listed in NOT_SERVED_YET, and the test fails as soon as it is served, so that its check is
written then.

Node and npm are required, not optional: without them the test fails and names what is missing.
`npm ci` runs once per package-lock.json (its hash is stamped into tests/js/node_modules).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as ConsoleClient
from django.utils import timezone

from audit.models import AuthenticationEvent, Event
from audit.selectors import EventQuery, event_queryset
from exports.models import ExportJob
from iam.logs import iam_log_events
from iam.models import APIKey, Application, Group, Invitation, Membership, Policy
from iam.permission_sets import CATALOGUE
from tests.api.conftest import make_events
from tests.factories import ApplicationFactory, GroupFactory, grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.js_sdk]

PROJECT = Path(__file__).resolve().parent.parent / "js"
STAMP = PROJECT / "node_modules" / ".package-lock.sha256"
NODE_MINIMUM = (20, 19)  # the SDK packages' `engines`
SCRIPT_TIMEOUT = 180

# The SDK methods in scope the server does not serve yet.
NOT_SERVED_YET: set[str] = set()

# The IAM package's methods we deliberately do not serve: sdk.mjs does not call them, and any
# method the packages define must be either called and checked below or listed here.
OUT_OF_SCOPE_BY_REASON = {
    "SSH keys (no servers to log into)": [
        "pageOfListSSHKeys",
        "listSSHKeys",
        "createSSHKey",
        "getSSHKey",
        "updateSSHKey",
        "deleteSSHKey",
    ],
    "accounts: a user edits their own profile, password and MFA in the console, not through IAM": [
        "updateUser",
        "updateUserUsername",
        "updateUserPassword",
        "createUserMFAOTP",
        "validateUserMFAOTP",
        "deleteUserMFAOTP",
        "lockUser",
        "unlockUser",
        "listGracePeriods",
        "getUserConnections",
        "initiateUserConnection",
        "joinUserConnection",
        "removeUserConnection",
    ],
    "quotas (none)": ["pageOfListQuota", "listQuota", "getQuotum"],
    "JWTs (console sessions are Django's)": [
        "pageOfListJWTs",
        "listJWTs",
        "createJWT",
        "getJWT",
        "deleteJWT",
    ],
    "organization settings, login methods and SAML": [
        "getOrganization",
        "setOrganizationAlias",
        "getOrganizationSecuritySettings",
        "updateOrganizationSecuritySettings",
        "updateOrganizationLoginMethods",
        "getOrganizationSaml",
        "enableOrganizationSaml",
        "updateSaml",
        "deleteSaml",
        "parseSamlMetadata",
        "listSamlCertificates",
        "addSamlCertificate",
        "deleteSamlCertificate",
    ],
}
OUT_OF_SCOPE = {f"Iam.{method}" for methods in OUT_OF_SCOPE_BY_REASON.values() for method in methods}


@pytest.fixture(scope="session")
def js_project() -> Path:
    """tests/js with its node_modules installed by `npm ci` from the lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    missing = [name for name, path in (("node", node), ("npm", npm)) if path is None]
    if missing:
        pytest.fail(
            f"the JavaScript SDK tests need {' and '.join(missing)} (Node.js >= 20.19 with npm) on PATH",
            pytrace=False,
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    found = re.match(r"v(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < NODE_MINIMUM:
        pytest.fail(f"the JavaScript SDK tests need Node.js >= 20.19, found {version}", pytrace=False)
    digest = hashlib.sha256((PROJECT / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != digest:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci failed in {PROJECT}:\n{done.stdout}\n{done.stderr}", pytrace=False)
        STAMP.write_text(digest)
    return PROJECT


def run_sdk(project: Path, live_server, key, organization, *args: str, **inputs: Any) -> dict[str, Any]:
    access_key, secret_key = key
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "SCW_API_URL": live_server.url,
        "SCW_ACCESS_KEY": access_key,
        "SCW_SECRET_KEY": secret_key,
        "SCW_DEFAULT_ORGANIZATION_ID": str(organization.pk),
        "JS_SDK_INPUT": json.dumps(inputs, default=str),
    }
    done = subprocess.run(
        [shutil.which("node") or "node", "sdk.mjs", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def not_served(result: dict[str, Any]) -> bool:
    """The server has no such route (404 from handler404) or no such method on it (405)."""
    if result["ok"]:
        return False
    body = result["error"].get("body") or {}
    if not isinstance(body, dict):
        return False
    unknown_route = body.get("type") == "not_found" and str(body.get("message", "")).startswith(
        "no such API route"
    )
    return unknown_route or body.get("type") == "method_not_allowed"


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def console_event_ids(organization, window) -> list[str]:
    query = EventQuery(region="fr-par", recorded_after=window[0], recorded_before=window[1])
    qs = event_queryset(organization_id=organization.pk, query=query).order_by("-recorded_at", "-id")
    return [str(pk) for pk in qs.values_list("id", flat=True)]


def console_event(pk: str) -> dict[str, Any]:
    """What the Events page shows of an event, as the SDK names it."""
    event = Event.objects.get(pk=pk)
    return {
        "id": str(event.id),
        "method": event.method_name,
        "product": event.product_name,
        "status": event.status_code,
        "locality": event.locality,
        "principal": str(event.principal_id) if event.principal_id else None,
        "project": str(event.project_id) if event.project_id else None,
        "resources": [r["id"] for r in event.resources or []],
    }


def sdk_event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event["id"],
        "method": event["methodName"],
        "product": event["productName"],
        "status": event["statusCode"],
        "locality": event["locality"],
        "principal": (event.get("principal") or {}).get("id"),
        "project": event.get("projectId"),
        "resources": [r["id"] for r in event["resources"]],
    }


@pytest.fixture
def scene(acme, owner, project):
    """Events over the last two hours in two products, one sign-in, the IAM logs of the keys."""
    now = timezone.now()
    make_events(
        acme, 4, start=now - timedelta(minutes=100), step=timedelta(minutes=10), project_id=project.pk
    )
    make_events(
        acme,
        3,
        start=now - timedelta(minutes=30),
        step=timedelta(minutes=5),
        product_name="kubernetes",
        service_name="scaleway.k8s.v1.Api",
        method_name="CreateCluster",
        status_code=403,
    )
    make_events(acme, 2, locality="nl-ams")  # another region: not listed under fr-par
    sign_in = AuthenticationEvent.objects.create(
        organization_id=acme.pk,
        user_id=owner.pk,
        email=owner.email,
        result="success",
        source_ip="192.0.2.1",
        recorded_at=now - timedelta(minutes=20),
    )
    return {"window": (now - timedelta(hours=2), now + timedelta(minutes=5)), "sign_in": sign_in}


@pytest.fixture
def console_iam(acme, auditor, member_without_rights):
    """IAM objects made in the console: the SDK reads some, deletes the doomed ones."""
    application = ApplicationFactory(organization=acme, name="console-app", description="made in the console")
    group = GroupFactory(organization=acme, name="console-group", description="made in the console")
    group.users.add(auditor)
    group.applications.add(application)
    return {
        "application": application,
        "group": group,
        "policy": grant(group, acme, "ProjectReadOnly"),
        "doomed_application": ApplicationFactory(organization=acme, name="doomed-app"),
        "doomed_group": GroupFactory(organization=acme, name="doomed-group"),
        "auditor": auditor,
        "member": member_without_rights,
    }


def iam_checks(
    results: dict[str, Any], acme, owner, project, made: dict[str, Any]
) -> tuple[dict[str, Callable[[Any], None]], Callable[[], None]]:
    """The checks of IAM's policies, rules, permission sets, applications, groups and users, and
    what the console shows after the run."""
    auditor, member = made["auditor"], made["member"]

    def value_of(name: str) -> dict[str, Any]:
        return results[name].get("value") or {}

    app_id, group_id = value_of("Iam.createApplication").get("id"), value_of("Iam.createGroup").get("id")
    policy_id, clone_id = value_of("Iam.createPolicy").get("id"), value_of("Iam.clonePolicy").get("id")
    invitee_id = value_of("Iam.createUser").get("id")

    def page_of(value: list[dict[str, Any]] | dict[str, Any], key: str) -> list[dict[str, Any]]:
        return value[key] if isinstance(value, dict) else value

    # Permission sets: the catalogue, by name.
    def permission_sets(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = page_of(value, "permissionSets")
        assert [p["name"] for p in page] == sorted(CATALOGUE)
        audit = next(p for p in page if p["name"] == "AuditTrailReadOnly")
        assert (audit["scopeType"], audit["categories"]) == (
            "organization",
            [CATALOGUE["AuditTrailReadOnly"].category],
        )

    def permission_set_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == len(CATALOGUE)
        permission_sets(value)

    # Applications
    def new_application(value: dict[str, Any]) -> None:
        assert (value["name"], value["description"], value["organizationId"], value["nbApiKeys"]) == (
            "js-app",
            "made by the JS SDK",
            str(acme.pk),
            0,
        )

    def console_application(value: dict[str, Any]) -> None:
        app = made["application"]
        assert (value["id"], value["name"], value["description"]) == (str(app.pk), app.name, app.description)

    def renamed_application(value: dict[str, Any]) -> None:
        assert (value["id"], value["name"], value["description"]) == (
            app_id,
            "js-app-renamed",
            "made by the JS SDK",
        )

    def applications(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = page_of(value, "applications")
        # listed before the doomed one's deletion
        expected = {str(a.pk): a.name for a in Application.objects.filter(organization=acme)}
        expected[str(made["doomed_application"].pk)] = "doomed-app"
        assert {a["id"]: a["name"] for a in page} == expected

    def application_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == len(value["applications"])
        applications(value)

    # Groups
    def new_group(value: dict[str, Any]) -> None:
        assert (value["name"], value["description"], value["userIds"], value["applicationIds"]) == (
            "js-group",
            "made by the JS SDK",
            [],
            [],
        )

    def console_group(value: dict[str, Any]) -> None:
        group = made["group"]
        assert (value["id"], value["name"], value["userIds"], value["applicationIds"]) == (
            str(group.pk),
            "console-group",
            [str(auditor.pk)],
            [str(made["application"].pk)],
        )

    def renamed_group(value: dict[str, Any]) -> None:
        assert (value["id"], value["name"], value["userIds"]) == (group_id, "js-group-renamed", [])

    def members(users: list[Any], applications: list[Any]) -> Callable[[dict[str, Any]], None]:
        def check(value: dict[str, Any]) -> None:
            assert sorted(value["userIds"]) == sorted(str(u.pk) for u in users)
            assert value["applicationIds"] == [str(a) for a in applications]

        return check

    def groups(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = page_of(value, "groups")
        expected = {str(g.pk): g.name for g in Group.objects.filter(organization=acme)}
        expected[str(made["doomed_group"].pk)] = "doomed-group"
        assert {g["id"]: g["name"] for g in page} == expected
        listed = next(g for g in page if g["id"] == group_id)
        assert (sorted(listed["userIds"]), listed["applicationIds"]) == ([str(auditor.pk)], [app_id])

    def group_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == len(value["groups"])
        groups(value)

    # Policies and rules
    def new_policy(value: dict[str, Any]) -> None:
        assert (value["name"], value["groupId"], value["nbRules"], value["editable"]) == (
            "js-policy",
            group_id,
            1,
            True,
        )

    def console_policy(value: dict[str, Any]) -> None:
        policy = made["policy"]
        assert (value["id"], value["name"], value["groupId"], value["nbPermissionSets"]) == (
            str(policy.pk),
            policy.name,
            str(made["group"].pk),
            1,
        )

    def renamed_policy(value: dict[str, Any]) -> None:
        assert (value["id"], value["name"], value["description"], value["groupId"]) == (
            policy_id,
            "js-policy-renamed",
            "renamed by the JS SDK",
            group_id,
        )

    def rules(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = page_of(value, "rules")
        stored = Policy.objects.get(pk=policy_id).rules.order_by("pk")
        assert [(r["id"], r["permissionSetNames"]) for r in page] == [
            (str(r.pk), r.permission_set_names) for r in stored
        ]
        assert [r["permissionSetNames"] for r in page] == [["IAMReadOnly"], ["SecretManagerFullAccess"]]
        assert (page[0]["organizationId"], page[1]["projectIds"]) == (str(acme.pk), [str(project.pk)])

    def rule_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == 2
        rules(value)

    def clone(value: dict[str, Any]) -> None:
        assert value["id"] not in (policy_id, None) and value["nbRules"] == 2

    def policies(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = page_of(value, "policies")
        # by name, listed before the clone's deletion
        stored = [(p.name, str(p.pk)) for p in Policy.objects.filter(organization=acme)]
        expected = sorted([*stored, (value_of("Iam.clonePolicy")["name"], clone_id)])
        assert [(p["name"], p["id"]) for p in page] == expected

    def policy_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == len(value["policies"])
        policies(value)

    # Users
    def invited(value: dict[str, Any]) -> None:
        assert (value["email"], value["status"]) == ("js-newcomer@example.org", "invitation_pending")
        assert value["id"] == str(
            Invitation.objects.get(organization=acme, email="js-newcomer@example.org").pk
        )

    def one_user(value: dict[str, Any]) -> None:
        assert (value["id"], value["email"], value["type"], value["status"]) == (
            str(auditor.pk),
            auditor.email,
            "member",
            "activated",
        )

    def users(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = page_of(value, "users")
        members_now = Membership.objects.active().filter(organization=acme).select_related("user")
        listed = {u["email"]: (u["type"], u["deletable"]) for u in page}
        assert {m.user.email for m in members_now} <= set(listed)
        assert listed[owner.email] == ("owner", False)
        assert listed[auditor.email] == ("member", True)

    def user_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == len(value["users"])
        users(value)

    def nothing(value: None) -> None:
        assert value is None

    checks: dict[str, Callable[[Any], None]] = {
        "Iam.pageOfListPermissionSets": permission_set_page,
        "Iam.listPermissionSets": permission_sets,
        "Iam.createApplication": new_application,
        "Iam.getApplication": console_application,
        "Iam.updateApplication": renamed_application,
        "Iam.pageOfListApplications": application_page,
        "Iam.listApplications": applications,
        "Iam.deleteApplication": nothing,
        "Iam.createGroup": new_group,
        "Iam.getGroup": console_group,
        "Iam.updateGroup": renamed_group,
        "Iam.addGroupMember": members([member], []),
        "Iam.addGroupMembers": members([member, auditor], [app_id]),
        "Iam.removeGroupMember": members([auditor], [app_id]),
        "Iam.setGroupMembers": members([member], []),
        "Iam.pageOfListGroups": group_page,
        "Iam.listGroups": groups,
        "Iam.deleteGroup": nothing,
        "Iam.createPolicy": new_policy,
        "Iam.getPolicy": console_policy,
        "Iam.updatePolicy": renamed_policy,
        "Iam.setRules": rules,
        "Iam.pageOfListRules": rule_page,
        "Iam.listRules": rules,
        "Iam.clonePolicy": clone,
        "Iam.pageOfListPolicies": policy_page,
        "Iam.listPolicies": policies,
        "Iam.deletePolicy": nothing,
        "Iam.createUser": invited,
        "Iam.getUser": one_user,
        "Iam.pageOfListUsers": user_page,
        "Iam.listUsers": users,
        "Iam.deleteUser": nothing,
    }

    def after() -> None:
        """The database and the console's IAM pages, as the owner sees them, after the run."""
        app = Application.objects.get(pk=app_id)
        assert (app.name, app.description) == ("js-app-renamed", "made by the JS SDK")
        group = Group.objects.get(pk=group_id)
        assert (group.name, list(group.users.all()), list(group.applications.all())) == (
            "js-group-renamed",
            [auditor],
            [app],
        )
        assert list(made["group"].users.all()) == [member] and not made["group"].applications.exists()
        policy = Policy.objects.get(pk=policy_id)
        assert (policy.name, policy.description, policy.group) == (
            "js-policy-renamed",
            "renamed by the JS SDK",
            group,
        )
        assert [r.permission_set_names for r in policy.rules.order_by("pk")] == [
            ["IAMReadOnly"],
            ["SecretManagerFullAccess"],
        ]
        assert not Policy.objects.filter(pk=clone_id).exists()
        assert not Application.objects.filter(pk=made["doomed_application"].pk).exists()
        assert not Group.objects.filter(pk=made["doomed_group"].pk).exists()
        invitation = Invitation.objects.get(pk=invitee_id)
        assert invitation.status == Invitation.Status.EXPIRED  # deleteUser cancels an invitation

        console = ConsoleClient()
        console.force_login(owner)
        pages = {
            url: console.get(url).content.decode()
            for url in ("/iam/applications/", "/iam/groups/", "/iam/policies/", f"/iam/groups/{group_id}/")
        }
        assert (
            "js-app-renamed" in pages["/iam/applications/"]
            and "doomed-app" not in pages["/iam/applications/"]
        )
        assert "js-group-renamed" in pages["/iam/groups/"] and "doomed-group" not in pages["/iam/groups/"]
        assert "js-policy-renamed" in pages["/iam/policies/"]
        assert auditor.email in pages[f"/iam/groups/{group_id}/"]
        assert "js-newcomer@example.org" not in console.get("/iam/users/").content.decode()

        # Each IAM write is in the trail, under the owner and the SDK's user agent.
        written = Event.objects.filter(
            organization_id=acme.pk,
            principal_id=owner.pk,
            status_code=200,
            user_agent__startswith="scaleway-sdk-js/",
        )
        assert {
            "CreateApplication",
            "UpdateApplication",
            "DeleteApplication",
            "CreateGroup",
            "UpdateGroup",
            "AddGroupMember",
            "AddGroupMembers",
            "RemoveGroupMember",
            "SetGroupMembers",
            "DeleteGroup",
            "CreatePolicy",
            "UpdatePolicy",
            "SetRules",
            "ClonePolicy",
            "DeletePolicy",
            "CreateUser",
            "DeleteUser",
        } <= set(written.values_list("method_name", flat=True))

    return checks, after


def test_js_sdk_calls_every_method_and_gets_what_the_console_shows(
    js_project, live_server, acme, owner, owner_key, project, scene, console_iam
):
    window = scene["window"]
    events = console_event_ids(acme, window)
    sign_ins = [str(scene["sign_in"].id)]
    logs = [str(e.id) for e in iam_log_events(organization_id=acme.pk, ascending=True)]
    keys_before = set(APIKey.objects.filter(organization=acme).values_list("access_key", flat=True))
    products = set(
        Event.objects.filter(organization_id=acme.pk, region="fr-par").values_list("product_name", flat=True)
    )
    assert len(events) == 8 and len(logs) == 1 and products == {"secret-manager", "kubernetes", "iam"}
    # An export job made in the console, which the SDK lists beside its own.
    console_job = ExportJob.objects.create(
        organization=acme, region="fr-par", name="console-job", bucket="console-bucket", s3_region="nl-ams"
    )

    output = run_sdk(
        js_project,
        live_server,
        owner_key,
        acme,
        recorded_after=window[0].isoformat(),
        recorded_before=window[1].isoformat(),
        user_id=str(owner.pk),
        organization_id=str(acme.pk),
        project_id=str(project.pk),
        auditor_id=str(console_iam["auditor"].pk),
        member_id=str(console_iam["member"].pk),
        console_application_id=str(console_iam["application"].pk),
        console_group_id=str(console_iam["group"].pk),
        console_policy_id=str(console_iam["policy"].pk),
        doomed_application_id=str(console_iam["doomed_application"].pk),
        doomed_group_id=str(console_iam["doomed_group"].pk),
    )
    results = output["results"]
    iam, iam_after = iam_checks(results, acme, owner, project, console_iam)
    created = results["Iam.createAPIKey"].get("value") or {}
    access_key = created.get("accessKey")
    job_id = (results["AuditTrail.createExportJob"].get("value") or {}).get("id")

    def events_in_console_order(value: dict[str, Any]) -> None:
        assert [sdk_event(e) for e in value["events"]] == [console_event(pk) for pk in events]
        assert value.get("nextPageToken") is None

    def combined(value: dict[str, Any]) -> None:
        kinds = [
            ("api", e["api"]["id"]) if e.get("api") else ("auth", e["auth"]["id"]) for e in value["events"]
        ]
        expected = sorted(
            [(AuthenticationEvent.objects.get(pk=sign_ins[0]).recorded_at, "auth", sign_ins[0])]
            + [(Event.objects.get(pk=pk).recorded_at, "api", pk) for pk in events],
            reverse=True,
        )
        assert kinds == [(kind, pk) for _, kind, pk in expected]

    def log_ids(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = value["logs"] if isinstance(value, dict) else value
        assert ids(page) == logs
        assert page[0]["action"] == "created" and page[0]["resourceType"] == "api_key"

    def all_keys(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = value["apiKeys"] if isinstance(value, dict) else value
        assert {k["accessKey"] for k in page} == keys_before | {access_key}
        assert all("secretKey" not in k for k in page)

    def sign_in_list(value: dict[str, Any]) -> None:
        assert ids(value["events"]) == sign_ins
        assert value["events"][0]["result"] == "success"

    def product_list(value: dict[str, Any]) -> None:
        assert {p["name"] for p in value["products"]} == products
        assert value["totalCount"] == len(products)

    def log_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == len(logs)
        log_ids(value)

    def one_log(value: dict[str, Any]) -> None:
        assert value["id"] == logs[0]

    def new_key(value: dict[str, Any]) -> None:
        assert (value["userId"], value["description"]) == (str(owner.pk), "js-sdk")
        assert uuid.UUID(value["secretKey"])

    def one_key(value: dict[str, Any]) -> None:
        assert (value["accessKey"], value["description"]) == (access_key, "js-sdk")
        assert "secretKey" not in value

    def renamed_key(value: dict[str, Any]) -> None:
        assert (value["accessKey"], value["description"]) == (access_key, "js-sdk, renamed")

    def listed_keys(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        all_keys(value)
        page = value["apiKeys"] if isinstance(value, dict) else value
        # listed after the update, from the database
        assert {k["accessKey"]: k["description"] for k in page}[access_key] == "js-sdk, renamed"

    def new_job(value: dict[str, Any]) -> None:  # the prefix as the console stores it: no final "/"
        assert (value["name"], value["organizationId"]) == ("js-sdk", str(acme.pk))
        assert value["s3"] == {"bucket": "audit", "region": "fr-par", "prefix": "js-sdk", "projectId": None}

    def job_row(job: ExportJob) -> tuple[str, str, str, str]:
        return (str(job.pk), job.name, job.bucket, job.s3_region)

    def sdk_job(job: dict[str, Any]) -> tuple[str, str, str, str]:
        return (job["id"], job["name"], job["s3"]["bucket"], job["s3"]["region"])

    def all_jobs(value: list[dict[str, Any]] | dict[str, Any]) -> None:
        page = value["exportJobs"] if isinstance(value, dict) else value
        # the console's job as the database holds it, and the SDK's own as it asked for it
        assert sorted(sdk_job(j) for j in page) == sorted(
            [job_row(console_job), (job_id, "js-sdk", "audit", "fr-par")]
        )

    def job_page(value: dict[str, Any]) -> None:
        assert value["totalCount"] == 2
        all_jobs(value)

    def nothing(value: None) -> None:
        assert value is None

    # One line per served method: what the SDK returned, against the database.
    checks: dict[str, Callable[[Any], None]] = {
        "AuditTrail.listEvents": events_in_console_order,
        "AuditTrail.listAuthenticationEvents": sign_in_list,
        "AuditTrail.listCombinedEvents": combined,
        "AuditTrail.listProducts": product_list,
        "AuditTrail.createExportJob": new_job,
        "AuditTrail.pageOfListExportJobs": job_page,
        "AuditTrail.listExportJobs": all_jobs,
        "AuditTrail.deleteExportJob": nothing,
        "Iam.pageOfListLogs": log_page,
        "Iam.listLogs": log_ids,
        "Iam.getLog": one_log,
        "Iam.createAPIKey": new_key,
        "Iam.getAPIKey": one_key,
        "Iam.updateAPIKey": renamed_key,
        "Iam.pageOfListAPIKeys": listed_keys,
        "Iam.listAPIKeys": listed_keys,
        "Iam.deleteAPIKey": nothing,
        **iam,
    }

    # Every method the packages define is called and checked, or listed out of scope.
    assert set(output["defined"]) == set(results) | OUT_OF_SCOPE
    assert not set(results) & OUT_OF_SCOPE
    assert set(results) == set(checks) | NOT_SERVED_YET
    served = {name for name, result in results.items() if not not_served(result)}
    assert served == set(checks), "served now: move it from NOT_SERVED_YET into `checks`"
    for name, check in checks.items():
        assert results[name]["ok"], (name, results[name]["error"])
        check(results[name]["value"])

    # What the SDK did is in the trail, under its own user agent, and the key is gone.
    assert not APIKey.objects.filter(access_key=access_key).exists()
    for method in ("CreateAPIKey", "DeleteAPIKey"):
        [event] = [
            e
            for e in Event.objects.filter(organization_id=acme.pk, method_name=method)
            if e.resources and e.resources[0]["id"] == access_key
        ]
        assert (event.principal_id, event.status_code) == (owner.pk, 200)
        assert event.user_agent.startswith("scaleway-sdk-js/")
    [renamed] = [
        e
        for e in Event.objects.filter(organization_id=acme.pk, method_name="UpdateAPIKey")
        if e.resources and e.resources[0]["id"] == access_key
    ]
    assert (renamed.principal_id, renamed.status_code) == (owner.pk, 200)

    # The SDK's export job was created then deleted, both in the trail; the console's one is left.
    assert list(ExportJob.objects.filter(organization=acme)) == [console_job]
    for method in ("CreateExportJob", "DeleteExportJob"):
        [event] = [
            e
            for e in Event.objects.filter(organization_id=acme.pk, method_name=method)
            if e.resources and e.resources[0]["id"] == job_id
        ]
        assert (event.principal_id, event.status_code) == (owner.pk, 200)
        assert event.user_agent.startswith("scaleway-sdk-js/")


def test_js_sdk_reads_a_429_as_its_too_many_requests_error(
    js_project, live_server, acme, auditor_key, settings
):
    settings.API_RATE_LIMIT = 1
    output = run_sdk(js_project, live_server, auditor_key, acme, "rate-limit")
    assert output["attempts"] == 2
    error = output["error"]
    assert error["status"] == 429
    assert error["name"] == "TooManyRequestsError"
    assert error["limit"] == {"quota": 1, "windowSeconds": settings.API_RATE_LIMIT_WINDOW}
    assert error["resetSeconds"] == error["body"]["reset_seconds"] == error["body"]["retry_after"]
    assert error["resetAt"] == error["body"]["reset_at"].replace("Z", ".000Z")
    assert error["helpMessage"] == error["body"]["help_message"] != ""
    assert error["message"].startswith("too many requests (quota is 1 for ")
