"""The isolation matrix: every route the URL resolver knows, called as every persona, with the
other organization's ids in every slot that takes one.

Nothing here lists routes by hand. The routes come from `get_resolver()`; what the matrix needs
to call one is small and explicit, and a route it cannot call fails the test:
- `PATH_PARAMS` says how to fill a path parameter (an object of the right kind, in Acme and in
  Globex); an unknown parameter name fails.
- `NEEDS` says, per route and HTTP method, what the caller must hold: an action of the one
  permission check (with the Scaleway method its refusal is recorded under), any signed-in user,
  or anyone. The methods a route serves are asked of the route itself (a method nobody serves
  must answer 405 with `Allow`), and must be the ones `NEEDS` knows.
- `EXEMPT` lists the few routes left out, each with its reason. The admin has its own test.
- `BODIES` gives a valid body to the writes, so that allowed callers really act; its `{kind}`
  placeholders are the body's id slots.

Both organizations are seeded alike, and every field that could leak carries the organization's
marker (`ACME-SECRET-…`, `GLOBEX-SECRET-…`). Each call asserts that:
- nothing answers 5xx;
- the status is what the persona's rights say: allowed, refused (403 and one 403 event in the
  caller's organization, under the caller, with the refused method and the request id), sent to
  the login page (console) or 401 JSON (API);
- another organization's id in a path slot is 404 (or a recorded 403 for a caller without
  rights), and in a query or body slot it is answered exactly as an id that exists nowhere;
- the other organization's marker and ids appear neither in the response nor in what the call
  wrote into the trail, and the other organization's trail gains nothing.

The world is built once per module; each call runs in a savepoint that is rolled back, so a
delete does not change what the next call sees.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from alerts import services as alert_services
from alerts.models import Alert, CustomAlertRule, NotificationContact
from alerts.rules import PRECONFIGURED
from api import openapi
from api.http import API_PREFIXES
from audit.models import AuthenticationEvent, Event
from audit.services import REFUSAL_PRODUCTS, Actor, build_event, record_many
from core.ids import uuid7
from exports.models import DownloadManifest, ExportJob
from exports.services import export_job_create
from iam import services as iam_services
from iam.models import APIKey, Application, Group, Invitation, Membership, Organization, Policy, Project, User
from iam.permissions import grants_for
from integrity.services import seal
from tests.factories import MembershipFactory, UserFactory, grant

# Each test runs in its own savepoint, inside the module's transaction that holds the world.
pytestmark = pytest.mark.django_db

# --- routes, from the resolver -------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the pattern itself when the route has no name
    pattern: str  # the whole pattern, prefixes included, as the resolver spells it
    door: str  # "console", "api" or "admin"

    def __str__(self) -> str:
        return self.name

    def tokens(self) -> Iterator[tuple[str, str]]:
        """("text", "iam/groups/") and ("param", "pk") pieces, for route and regex syntax alike."""
        pattern, i = self.pattern, 0
        while i < len(pattern):
            if pattern.startswith("(?P<", i):  # a regex group: (?P<name>...), parentheses balanced
                end = pattern.index(">", i)
                name, depth, j = pattern[i + 4 : end], 1, end + 1
                while depth:
                    depth += {"(": 1, ")": -1}.get(pattern[j], 0)
                    j += 2 if pattern[j] == "\\" else 1
                yield "param", name
                i = j
            elif pattern[i] == "<":  # a route converter: <uuid:pk>
                end = pattern.index(">", i)
                yield "param", pattern[i + 1 : end].split(":")[-1]
                i = end + 1
            elif pattern[i] in "^$":
                i += 1
            else:
                step = 2 if pattern[i] == "\\" else 1
                yield "text", pattern[i + step - 1]
                i += step

    @property
    def params(self) -> list[str]:
        return [value for kind, value in self.tokens() if kind == "param"]

    def path(self, values: dict[str, str]) -> str:
        return "/" + "".join(values[v] if kind == "param" else v for kind, v in self.tokens())

    def collection_before(self, param: str) -> str:
        """The path segment a parameter follows: "groups" for iam/groups/<uuid:pk>/."""
        text = ""
        for kind, value in self.tokens():
            if kind == "param" and value == param:
                return text.rstrip("/").rsplit("/", 1)[-1]
            text += value if kind == "text" else "x"
        raise KeyError(param)


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            pattern = prefix + str(entry.pattern)
            yield Route(f"{namespace}{entry.name}" if entry.name else pattern, pattern, _door(pattern))


def _door(pattern: str) -> str:
    """The API is what the 404 handler answers in JSON (its prefixes); the admin is Django's."""
    path = "/" + pattern.lstrip("^")
    if path.startswith("/admin/"):
        return "admin"
    return "api" if path.startswith(API_PREFIXES) else "console"


ROUTES = list(_walk(get_resolver().url_patterns))

# --- what the matrix knows about the routes -------------------------------------------------------

PUBLIC = "anyone"  # no sign-in needed, and nothing of an organization in the answer
SIGNED_IN = "signed-in"  # any signed-in user, on their own session (no organization data)

Gate = tuple[str, str]  # (action of iam.permission_sets.ACTIONS, Scaleway method of its refusal)


def gates(*pairs: Gate) -> tuple[Gate, ...]:
    """The checks a call passes, in order: the first one the caller fails is the refusal."""
    return pairs


IAM_READ, IAM_WRITE, IAM_LOGS = "iam:read", "iam:write", "iam:logs"
AT_READ, AT_WRITE = "audit_trail:read", "audit_trail:write"
EXPORT_READ, EXPORT_WRITE = "audit_trail:export_read", "audit_trail:export_write"

NEEDS: dict[str, dict[str, str | tuple[Gate, ...]]] = {
    # The header and the session.
    "home": {"GET": SIGNED_IN},
    "health": {"GET": PUBLIC},
    "organization-switch": {"POST": SIGNED_IN},
    "time-display": {"POST": SIGNED_IN},
    # IAM.
    "iam:users": {"GET": gates((IAM_READ, "ListUsers"))},
    "iam:user-invite": {"POST": gates((IAM_WRITE, "CreateUser"))},
    "iam:member-remove": {"POST": gates((IAM_WRITE, "DeleteUser"))},
    "iam:invitation-cancel": {"POST": gates((IAM_WRITE, "DeleteUser"))},
    "iam:applications": {"GET": gates((IAM_READ, "ListApplications"))},
    "iam:application-create": {"POST": gates((IAM_WRITE, "CreateApplication"))},
    "iam:application": {
        "GET": gates((IAM_READ, "GetApplication")),
        "POST": gates((IAM_WRITE, "UpdateApplication")),
    },
    "iam:application-delete": {"POST": gates((IAM_WRITE, "DeleteApplication"))},
    "iam:groups": {"GET": gates((IAM_READ, "ListGroups"))},
    "iam:group-create": {"POST": gates((IAM_WRITE, "CreateGroup"))},
    "iam:group": {"GET": gates((IAM_READ, "GetGroup"))},
    "iam:group-delete": {"POST": gates((IAM_WRITE, "DeleteGroup"))},
    "iam:group-member-add": {"POST": gates((IAM_WRITE, "AddGroupMember"))},
    "iam:group-member-remove": {"POST": gates((IAM_WRITE, "RemoveGroupMember"))},
    "iam:policies": {"GET": gates((IAM_READ, "ListPolicies"))},
    "iam:policy-create": {
        "GET": gates((IAM_WRITE, "CreatePolicy")),
        "POST": gates((IAM_WRITE, "CreatePolicy")),
    },
    "iam:policy": {"GET": gates((IAM_READ, "GetPolicy")), "POST": gates((IAM_WRITE, "UpdatePolicy"))},
    "iam:policy-delete": {"POST": gates((IAM_WRITE, "DeletePolicy"))},
    "iam:api-keys": {"GET": gates((IAM_READ, "ListAPIKeys"))},
    "iam:api-key-create": {"POST": gates((IAM_WRITE, "CreateAPIKey"))},
    "iam:api-key-created": {"GET": gates((IAM_READ, "GetAPIKey"))},
    "iam:api-key-delete": {"POST": gates((IAM_WRITE, "DeleteAPIKey"))},
    "iam:logs": {"GET": gates((IAM_LOGS, "ListLogs"))},
    "iam:log": {"GET": gates((IAM_LOGS, "GetLog"))},
    # Audit Trail: events, Alerting Management, contacts.
    "audit:events": {"GET": gates((AT_READ, "ListEvents"))},
    "audit:event": {"GET": gates((AT_READ, "GetEvent"))},
    "audit:event_facets": {"GET": gates((AT_READ, "ListEvents"))},
    "audit:event_timeline": {"GET": gates((AT_READ, "ListEvents"))},
    "audit:sign_ins": {"GET": gates((AT_READ, "ListAuthenticationEvents"))},
    "alerts:management": {
        "GET": gates((AT_READ, "ListAlertRules")),
        "POST": gates((AT_READ, "ListAlertRules"), (AT_WRITE, "SetEnabledAlertRules")),
    },
    "alerts:custom-rule-create": {
        "GET": gates((AT_READ, "ListCustomAlertRules"), (AT_WRITE, "CreateCustomAlertRule")),
        "POST": gates((AT_READ, "ListCustomAlertRules"), (AT_WRITE, "CreateCustomAlertRule")),
    },
    "alerts:custom-rule-delete": {"POST": gates((AT_WRITE, "DeleteCustomAlertRule"))},
    "exports:jobs": {
        "GET": gates((EXPORT_READ, "ListExportJobs")),
        "POST": gates((EXPORT_READ, "ListExportJobs"), (EXPORT_WRITE, "CreateExportJob")),
    },
    "exports:job-delete": {"POST": gates((EXPORT_WRITE, "DeleteExportJob"))},
    "exports:download": {"GET": gates((AT_READ, "DownloadEvents"))},
    "exports:download-manifest": {"GET": gates((AT_READ, "GetDownloadManifest"))},
    "integrity:page": {
        "GET": gates((AT_READ, "GetSignedTreeHead")),
        "POST": gates((AT_READ, "GetSignedTreeHead"), ("audit_trail:retention", "UpdateRetention")),
    },
    "integrity:event": {"GET": gates((AT_READ, "GetInclusionProof"))},
    "alerts:contacts": {
        "GET": gates(("contacts:read", "ListContacts")),
        "POST": gates(("contacts:read", "ListContacts"), ("contacts:write", "CreateContact")),
    },
    "alerts:contact-update": {"POST": gates(("contacts:write", "UpdateContact"))},
    "alerts:contact-delete": {"POST": gates(("contacts:write", "DeleteContact"))},
    # The API. One permission check, one answer, whatever the door: the same actions as above.
    "api-list-events": {"GET": gates((AT_READ, "ListEvents"))},
    "api-list-products": {"GET": gates((AT_READ, "ListProducts"))},
    "api-list-auth-events": {"GET": gates((AT_READ, "ListAuthenticationEvents"))},
    "api-list-combined-events": {"GET": gates((AT_READ, "ListCombinedEvents"))},
    "api-last-events-overview": {"GET": gates((AT_READ, "GetLastEventsOverview"))},
    "api-list-system-events": {"GET": gates((AT_READ, "ListSystemEvents"))},
    "api-ingest-events": {"POST": gates(("audit_trail:ingest", "IngestEvents"))},
    "api-openapi": {"GET": PUBLIC},
    "api-public-keys": {"GET": PUBLIC},
    "api-signed-tree-head": {"GET": gates((AT_READ, "GetSignedTreeHead"))},
    "api-inclusion-proof": {"GET": gates((AT_READ, "GetInclusionProof"))},
    "api-consistency-proof": {"GET": gates((AT_READ, "GetConsistencyProof"))},
    "api-list-logs": {"GET": gates((IAM_LOGS, "ListLogs"))},
    "api-get-log": {"GET": gates((IAM_LOGS, "GetLog"))},
    "api-api-keys": {"GET": gates((IAM_READ, "ListAPIKeys")), "POST": gates((IAM_WRITE, "CreateAPIKey"))},
    "api-api-key": {
        "GET": gates((IAM_READ, "GetAPIKey")),
        "PATCH": gates((IAM_WRITE, "UpdateAPIKey")),
        "DELETE": gates((IAM_WRITE, "DeleteAPIKey")),
    },
    "api-policies": {"GET": gates((IAM_READ, "ListPolicies")), "POST": gates((IAM_WRITE, "CreatePolicy"))},
    "api-policy": {
        "GET": gates((IAM_READ, "GetPolicy")),
        "PATCH": gates((IAM_WRITE, "UpdatePolicy")),
        "DELETE": gates((IAM_WRITE, "DeletePolicy")),
    },
    "api-clone-policy": {"POST": gates((IAM_WRITE, "ClonePolicy"))},
    "api-rules": {"GET": gates((IAM_READ, "ListRules")), "PUT": gates((IAM_WRITE, "SetRules"))},
    "api-permission-sets": {"GET": gates(("iam:permission_sets", "ListPermissionSets"))},
    "api-applications": {
        "GET": gates((IAM_READ, "ListApplications")),
        "POST": gates((IAM_WRITE, "CreateApplication")),
    },
    "api-application": {
        "GET": gates((IAM_READ, "GetApplication")),
        "PATCH": gates((IAM_WRITE, "UpdateApplication")),
        "DELETE": gates((IAM_WRITE, "DeleteApplication")),
    },
    "api-users": {"GET": gates((IAM_READ, "ListUsers")), "POST": gates((IAM_WRITE, "CreateUser"))},
    "api-user": {"GET": gates((IAM_READ, "GetUser")), "DELETE": gates((IAM_WRITE, "DeleteUser"))},
    "api-groups": {"GET": gates((IAM_READ, "ListGroups")), "POST": gates((IAM_WRITE, "CreateGroup"))},
    "api-group": {
        "GET": gates((IAM_READ, "GetGroup")),
        "PATCH": gates((IAM_WRITE, "UpdateGroup")),
        "DELETE": gates((IAM_WRITE, "DeleteGroup")),
    },
    "api-group-members": {"PUT": gates((IAM_WRITE, "SetGroupMembers"))},
    "api-group-add-member": {"POST": gates((IAM_WRITE, "AddGroupMember"))},
    "api-group-add-members": {"POST": gates((IAM_WRITE, "AddGroupMembers"))},
    "api-group-remove-member": {"POST": gates((IAM_WRITE, "RemoveGroupMember"))},
    "api-alert-rules": {
        "GET": gates((AT_READ, "ListAlertRules")),
        "PATCH": gates((AT_WRITE, "SetEnabledAlertRules")),
    },
    "api-enable-alert-rules": {"POST": gates((AT_WRITE, "EnableAlertRules"))},
    "api-disable-alert-rules": {"POST": gates((AT_WRITE, "DisableAlertRules"))},
    "api-custom-alert-rules": {
        "GET": gates((AT_READ, "ListCustomAlertRules")),
        "POST": gates((AT_WRITE, "CreateCustomAlertRule")),
        "PUT": gates((AT_WRITE, "SetEnabledCustomAlertRules")),
    },
    "api-custom-alert-rule": {
        "PATCH": gates((AT_WRITE, "UpdateCustomAlertRule")),
        "DELETE": gates((AT_WRITE, "DeleteCustomAlertRule")),
    },
    "api-enable-custom-alert-rules": {"POST": gates((AT_WRITE, "EnableCustomAlertRules"))},
    "api-disable-custom-alert-rules": {"POST": gates((AT_WRITE, "DisableCustomAlertRules"))},
    "api-export-jobs": {
        "GET": gates((EXPORT_READ, "ListExportJobs")),
        "POST": gates((EXPORT_WRITE, "CreateExportJob")),
    },
    "api-export-job": {"DELETE": gates((EXPORT_WRITE, "DeleteExportJob"))},
}

EXEMPT = {
    "login": "the sign-in form: no ids, no organization; tests/iam/test_login.py covers it",
    "logout": "ends the caller's own session: no ids, no organization; tests/iam/test_login.py",
    "iam:invitation": "public by design: the e-mailed token is the proof of access, not an organization "
    "role; tests/iam/test_views.py covers accepting, declining and unknown tokens",
    "metrics": "Prometheus' scrape target: no session and no organization role but a machine credential "
    "(METRICS_TOKEN, METRICS_ALLOWED_IPS), 404 to everyone while neither is set (as in this matrix); "
    "tests/metrics/test_endpoint.py covers the token, the allow-list and both",
}

# Path parameter -> the kind of object that fills it. `pk` is named by the collection it follows.
PATH_PARAMS = {
    "event_id": "event",
    "user_id": "member",
    "rule_id": "custom_rule",
    "job_id": "export_job",
    "contact_id": "contact",
    "access_key": "api_key",
    "log_id": "log",
    "custom_alert_rule_id": "custom_rule",
    "export_job_id": "export_job",
    "manifest_id": "download_manifest",
    "policy_id": "policy",
    "group_id": "group",
    "application_id": "application",
    "region": "region",
    "invitations/pk": "invitation",
    "applications/pk": "application",
    "groups/pk": "group",
    "policies/pk": "policy",
    "logs/pk": "log",
}
NOT_IDS = {"region"}  # the same in every organization: no foreign variant

# Query parameters that take an id, sent one at a time to a GET (or DELETE) an allowed caller
# makes, when the route takes them: an API route's parameters in the OpenAPI document (and
# organization_id, which the SDKs always send), a console page's fields (`name="…"`).
QUERY_SLOTS = {
    "organization_id": "organization",
    "project_id": "project",
    "project": "project",
    "principal_id": "principal",
    "principal": "principal",
    "bearer_id": "principal",
    "user_id": "member",
    "application_id": "application",
    "resource_id": "resource",
    "request_id": "request",
    "access_key": "api_key",
    "access_keys": "api_key",
    "user_ids": "member",
    "group_ids": "group",
    "application_ids": "application",
    "policy_ids": "policy",
    "policy_id": "policy",
}
# Body fields every API write is also sent, one at a time (the SDKs always send organization_id).
API_BODY_SLOTS = {"organization_id": "organization", "project_id": "project"}

RULE_ID = str(PRECONFIGURED[0].id)
POLICY_FORM = {
    "name": "matrix-policy",
    "principal": "group:{group}",
    "rules-TOTAL_FORMS": "1",
    "rules-INITIAL_FORMS": "0",
    "rules-0-permission_set_names": "SecretManagerFullAccess",
    "rules-0-scope": "projects",
    "rules-0-project_ids": "{project}",
}
CUSTOM_RULE_FORM = {
    "name": "matrix-rule",
    "query": 'method_name == "DeleteSecret"',
    "occurrences": "1",
    "evaluation_window": "300",
    "severity": "info",
    "enabled": "on",
}

# Required query parameters of the reads that have some, by route and method; `{kind}` as below.
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("api-rules", "GET"): {"policy_id": "{policy}"},
}

# Valid bodies, by route and method; `{kind}` is an id slot, filled from the caller's organization
# (its variants: the other organization's, and one that exists nowhere).
BODIES: dict[tuple[str, str], Any] = {
    ("organization-switch", "POST"): {"organization": "{organization}", "next": "/iam/users/"},
    ("time-display", "POST"): {"time_display": "utc", "next": "/"},
    ("iam:user-invite", "POST"): {"email": "{email}"},
    ("iam:application-create", "POST"): {"name": "matrix-app"},
    ("integrity:page", "POST"): {"days": "120", "legal_hold": "on", "reason": "matrix"},
    ("iam:application", "POST"): {"name": "matrix-renamed"},
    ("iam:group-create", "POST"): {"name": "matrix-group"},
    ("iam:group-member-add", "POST"): {"member": "user:{member}"},
    ("iam:group-member-remove", "POST"): {"member": "user:{grouped}"},
    ("iam:policy-create", "POST"): POLICY_FORM,
    ("iam:policy", "POST"): POLICY_FORM,
    ("iam:api-key-create", "POST"): {
        "bearer": "application:{application}",
        "description": "matrix",
        "default_project": "{project}",
    },
    ("alerts:management", "POST"): {"rule_ApiKeyCreated": "on"},
    ("alerts:custom-rule-create", "POST"): CUSTOM_RULE_FORM,
    ("exports:jobs", "POST"): {"name": "matrix-export", "bucket": "matrix-bucket", "s3_region": "fr-par"},
    ("alerts:contacts", "POST"): {"email": "matrix-contact@example.org", "types": "security"},
    ("alerts:contact-update", "POST"): {"{contact}-types": "technical"},
    ("api-ingest-events", "POST"): {
        "events": [
            {
                "id": "{new_event}",
                "recorded_at": "{now}",
                "locality": "fr-par",
                "organization_id": "{organization}",
                "project_id": "{project}",
                "principal": {"id": "{principal}"},
                "source_ip": "203.0.113.9",
                "user_agent": "matrix/1.0",
                "product_name": "secret-manager",
                "service_name": "scaleway.secret_manager.v1beta1.Api",
                "method_name": "CreateSecret",
                "resources": [{"id": "{resource}", "type": "secret_manager_secret", "name": "db-pass"}],
                "request_id": "{new_request}",
                "request_body": {"name": "db-pass"},
                "status_code": 200,
            }
        ]
    },
    ("api-api-keys", "POST"): {
        "application_id": "{application}",
        "description": "matrix",
        "default_project_id": "{project}",
    },
    ("api-alert-rules", "PATCH"): {"enabled_alert_rule_ids": [RULE_ID]},
    ("api-enable-alert-rules", "POST"): {"alert_rule_ids": [RULE_ID]},
    ("api-disable-alert-rules", "POST"): {"alert_rule_ids": [RULE_ID]},
    ("api-api-key", "PATCH"): {"description": "matrix", "default_project_id": "{project}"},
    ("api-policies", "POST"): {
        "name": "matrix-policy",
        "rules": [{"permission_set_names": ["SecretManagerFullAccess"], "project_ids": ["{project}"]}],
        "group_id": "{group}",
    },
    ("api-policy", "PATCH"): {"name": "matrix-renamed", "application_id": "{application}"},
    ("api-rules", "PUT"): {
        "policy_id": "{policy}",
        "rules": [{"permission_set_names": ["IAMReadOnly"], "organization_id": "{organization}"}],
    },
    ("api-applications", "POST"): {"name": "matrix-app", "description": ""},
    ("api-application", "PATCH"): {"name": "matrix-renamed"},
    ("api-users", "POST"): {"email": "{email}"},
    ("api-groups", "POST"): {"name": "matrix-group", "description": ""},
    ("api-group", "PATCH"): {"name": "matrix-renamed"},
    ("api-group-members", "PUT"): {"user_ids": ["{member}"], "application_ids": ["{application}"]},
    ("api-group-add-member", "POST"): {"user_id": "{member}"},
    ("api-group-add-members", "POST"): {"user_ids": ["{member}"], "application_ids": ["{application}"]},
    ("api-group-remove-member", "POST"): {"user_id": "{grouped}"},
    ("api-custom-alert-rules", "POST"): {"name": "matrix-rule", "query": "true", "occurrences": 1},
    ("api-custom-alert-rules", "PUT"): {"enabled_custom_alert_rule_ids": ["{custom_rule}"]},
    ("api-custom-alert-rule", "PATCH"): {"name": "matrix-renamed"},
    ("api-enable-custom-alert-rules", "POST"): {"custom_alert_rule_ids": ["{custom_rule}"]},
    ("api-disable-custom-alert-rules", "POST"): {"custom_alert_rule_ids": ["{custom_rule}"]},
    ("api-export-jobs", "POST"): {
        "name": "matrix-export",
        "s3": {"bucket": "matrix-bucket", "project_id": "{project}"},
    },
}
# Fills that are not object ids of an organization: never swapped for another organization's.
NOT_SLOTS = {"now", "new_event", "new_request", "region"}
# A slot's value from the other organization, when it is not the fill of the same name: an
# address to invite is, from the other side, the e-mail of one of its members.
FOREIGN_KIND = {"email": "member_email"}

# --- personas ------------------------------------------------------------------------------------

ACME_MEMBERS = ("owner", "iam_manager", "auditor", "member_without_rights", "removed_member")
SIGNED_IN_PERSONAS = (*ACME_MEMBERS, "outsider")
CONSOLE_PERSONAS = (*SIGNED_IN_PERSONAS, "anonymous")
# Keys: each persona's own, none at all (with a signed-in console session), a deleted key, an
# expired key. The removed member's key went with their membership.
API_PERSONAS = (*CONSOLE_PERSONAS, "revoked_key", "expired_key")
# Who is refused with a recorded 403 event, and where: the members of an organization.
FILED = {"owner", "iam_manager", "auditor", "member_without_rights", "outsider"}

# The id that exists nowhere: the highest version-4 UUID (a UUIDv7 reading of it is year 10889).
NOWHERE_UUID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
NOWHERE = {
    "api_key": "SCWZZZZZZZZZZZZZZZZZ",
    "email": "nobody-anywhere@example.org",
}

KNOWN_DEFECTS: dict[tuple[str, str, str], str] = {}


def known(route: str, method: str, personas: tuple[str, ...], reason: str) -> None:
    for persona in personas:
        KNOWN_DEFECTS[(route, method, persona)] = reason


# --- the world -------------------------------------------------------------------------------------


@dataclass
class Org:
    organization: Organization
    marker: str
    fills: dict[str, str]  # kind -> this organization's object of that kind
    ids: set[str]  # every id of the organization's data, lower case

    def foreign_to(self, sent: set[str]) -> tuple[str | None, set[str]]:
        """What must not appear: the marker and the ids, less what the request itself carried."""
        marker = self.marker.lower()
        return (None if any(marker in s for s in sent) else marker), self.ids - sent


@dataclass
class World:
    acme: Org
    globex: Org
    users: dict[str, User]
    clients: dict[str, Client]  # console clients, signed in (anonymous: a client with no session)
    tokens: dict[str, str | None]  # X-Auth-Token per persona
    events: frozenset[uuid.UUID]  # the events of the world, before any call

    def home(self, persona: str) -> Org:
        return self.globex if persona == "outsider" else self.acme

    def other(self, persona: str) -> Org:
        return self.acme if persona == "outsider" else self.globex


def _seed(name: str, domain: str, members: dict[str, tuple[str, ...]]) -> tuple[Org, dict[str, User]]:
    """One organization with an object of every kind, each carrying the organization's marker."""
    marker = f"{name.upper()}-SECRET-{uuid.uuid4().hex[:8]}"
    now = timezone.now()

    def email(role: str) -> str:
        return f"{role}.{marker}@{domain}"

    owner = UserFactory(email=email("owner"), first_name=marker, last_name="Owner")
    organization = iam_services.organization_create(name=f"{name} {marker}", owner=owner)
    actor = Actor.of(owner)
    users = {"owner": owner}
    for persona, permission_sets in members.items():
        users[persona] = UserFactory(email=email(persona.replace("_", "-")), first_name=marker)
        MembershipFactory(organization=organization, user=users[persona])
        if permission_sets:
            grant(users[persona], organization, *permission_sets)
    member = users["member"] = UserFactory(email=email("member"), first_name=marker)
    grouped = users["grouped"] = UserFactory(email=email("grouped"), last_name=marker)
    for user in (member, grouped):
        MembershipFactory(organization=organization, user=user)
    project = Project.objects.create(organization=organization, name=f"project-{marker}", description=marker)
    application = iam_services.application_create(
        actor=actor, organization=organization, name=f"app-{marker}", description=marker
    )
    group = iam_services.group_create(
        actor=actor, organization=organization, name=f"group-{marker}", description=marker
    )
    iam_services.group_member_add(actor=actor, group=group, member=grouped)
    iam_services.group_member_add(actor=actor, group=group, member=application)
    policy = iam_services.policy_create(
        actor=actor,
        organization=organization,
        name=f"policy-{marker}",
        description=marker,
        principal=group,
        rules=[
            iam_services.RuleSpec(permission_set_names=["SecretManagerFullAccess"], project_ids=[project.pk])
        ],
    )
    key, _ = iam_services.api_key_create(
        actor=actor,
        organization=organization,
        user=owner,
        description=f"key-{marker}",
        default_project=project,
    )
    iam_services.api_key_create(
        actor=actor, organization=organization, application=application, description=f"app-key-{marker}"
    )
    invitation, _token = iam_services.user_invite(
        actor=actor, organization=organization, email=email("invitee"), invited_by=owner
    )
    contact = alert_services.notification_contact_create(
        actor=actor, organization=organization, email=email("contact"), types=["security"]
    )
    rule = alert_services.custom_alert_rule_create(
        actor=actor,
        organization=organization,
        region="fr-par",
        name=f"rule-{marker}",
        description=marker,
        query='method_name == "DeleteSecret"',
    )
    export_job = export_job_create(
        actor=actor,
        organization=organization,
        region="fr-par",
        name=f"export-{marker}",
        bucket="matrix-bucket",
        s3_region="fr-par",
    )
    download_manifest = DownloadManifest.objects.create(
        organization=organization,
        user_id=owner.pk,
        filename=f"download-{marker}.ndjson",
        rows=0,
        sha256="0" * 64,
        manifest={"organization_id": str(organization.pk), "rows": 0},
    )
    resource_id, request_id = str(uuid.uuid4()), str(uuid.uuid4())
    person = Actor(
        principal_type="user",
        principal_id=owner.pk,
        principal_name=owner.email,
        source_ip="198.51.100.7",
        user_agent=f"agent-{marker}",
        request_id=request_id,
    )
    events = [
        build_event(
            organization_id=organization.pk,
            actor=person,
            product_name="secret-manager",
            service_name="scaleway.secret_manager.v1beta1.Api",
            method_name=method_name,
            locality="fr-par",
            status_code=status_code,
            project_id=project.pk,
            resources=[{"id": resource_id, "type": "secret_manager_secret", "name": f"secret-{marker}"}],
            request_body={"name": f"secret-{marker}", "description": marker},
            recorded_at=now - timedelta(minutes=minutes),
        )
        for method_name, status_code, minutes in [("CreateSecret", 200, 20), ("DeleteSecret", 403, 10)]
    ]
    record_many(events)
    Alert.objects.create(
        organization=organization,
        region="fr-par",
        rule_key=f"custom:{rule.pk}",
        rule_name=rule.name,
        custom_rule=rule,
        severity=rule.severity,
        window_start=events[1].recorded_at - timedelta(minutes=5),
        window_end=events[1].recorded_at,
        matched_count=1,
        trigger_event_id=events[1].id,
        sample_event_ids=[str(events[1].id)],
        recipients=[contact.email],
    )
    AuthenticationEvent.objects.create(
        organization_id=organization.pk,
        user_id=owner.pk,
        email=owner.email,
        user_agent=f"agent-{marker}",
        source_ip="198.51.100.7",
        result=AuthenticationEvent.Result.SUCCESS,
        recorded_at=now - timedelta(minutes=5),
    )
    log = Event.objects.filter(organization_id=organization.pk, method_name="CreateAPIKey").first()
    assert log is not None
    seal(organization.pk)  # the integrity proofs' routes answer for sealed events
    fills = {
        "organization": str(organization.pk),
        "project": str(project.pk),
        "event": str(events[0].id),
        "log": str(log.id),
        "resource": resource_id,
        "request": request_id,
        "principal": str(owner.pk),
        "member": str(member.pk),
        "grouped": str(grouped.pk),
        "application": str(application.pk),
        "group": str(group.pk),
        "policy": str(policy.pk),
        "invitation": str(invitation.pk),
        "api_key": key.access_key,
        "contact": str(contact.pk),
        "custom_rule": str(rule.pk),
        "export_job": str(export_job.pk),
        "download_manifest": str(download_manifest.pk),
        "region": "fr-par",
        "email": f"newcomer-{name.lower()}@example.org",
        "member_email": member.email,
        "now": (now - timedelta(minutes=1)).isoformat(),
        "new_event": str(uuid7(now - timedelta(minutes=1))),
        "new_request": str(uuid.uuid4()),
    }
    return Org(organization, marker, fills, set()), users


def _ids_of(organization: Organization) -> set[str]:
    """Every id that belongs to the organization: its objects, its events and what they name."""
    ids: set[Any] = {organization.pk, organization.owner_id}
    ids |= set(Membership.objects.filter(organization=organization).values_list("user_id", flat=True))
    ids |= set(Invitation.objects.filter(organization=organization).values_list("pk", "user_id").distinct())
    for model in (Project, Application, Group, Policy):
        ids |= set(model.objects.filter(organization=organization).values_list("pk", flat=True))
    ids |= set(APIKey.objects.filter(organization=organization).values_list("access_key", flat=True))
    for model in (Alert, AuthenticationEvent):
        ids |= set(model.objects.filter(organization_id=organization.pk).values_list("pk", flat=True))
    for model in (CustomAlertRule, NotificationContact, ExportJob, DownloadManifest):
        ids |= set(model.objects.filter(organization_id=organization.pk).values_list("pk", flat=True))
    for event in Event.objects.filter(organization_id=organization.pk):
        ids |= {event.id, event.principal_id, event.project_id, event.request_id}
        ids |= {r.get("id") for r in event.resources or [] if isinstance(r, dict)}
    flat: set[str] = set()
    for value in ids:
        if isinstance(value, tuple):
            flat |= {str(v).lower() for v in value if v}
        elif value:
            flat.add(str(value).lower())
    return flat


def _build_world() -> World:
    acme, users = _seed(
        "Acme",
        "acme.test",
        {
            "iam_manager": ("IAMManager",),
            "auditor": ("AuditTrailReadOnly",),
            "member_without_rights": (),
            "removed_member": (),
        },
    )
    globex, globex_users = _seed("Globex", "globex.test", {})
    users["outsider"] = globex_users["owner"]
    # Each organization's trail names a member of the other (an external producer may): the
    # console must show them as Unknown, never resolve them to the other organization's account.
    for org, stranger in ((acme, globex_users["grouped"]), (globex, users["grouped"])):
        record_many(
            [
                build_event(
                    organization_id=org.organization.pk,
                    actor=Actor(principal_type="user", principal_id=stranger.pk),
                    product_name="secret-manager",
                    service_name="scaleway.secret_manager.v1beta1.Api",
                    method_name="GetSecret",
                    locality="fr-par",
                    recorded_at=timezone.now() - timedelta(minutes=15),
                )
            ]
        )
    tokens: dict[str, str | None] = {"anonymous": None}
    for persona in SIGNED_IN_PERSONAS:
        org = globex if persona == "outsider" else acme
        _key, tokens[persona] = iam_services.api_key_create(
            actor=Actor.system(), organization=org.organization, user=users[persona]
        )
    removed = Membership.objects.get(organization=acme.organization, user=users["removed_member"])
    iam_services.member_remove(actor=Actor.of(users["owner"]), membership=removed)  # deletes their key
    revoked, tokens["revoked_key"] = iam_services.api_key_create(
        actor=Actor.system(), organization=acme.organization, user=users["owner"]
    )
    iam_services.api_key_delete(actor=Actor.system(), key=revoked)
    expired, tokens["expired_key"] = iam_services.api_key_create(
        actor=Actor.system(), organization=acme.organization, user=users["owner"]
    )
    APIKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    acme.ids, globex.ids = _ids_of(acme.organization), _ids_of(globex.organization)
    # An id named in both trails (the strangers above) is each one's own data too.
    acme.ids, globex.ids = acme.ids - globex.ids, globex.ids - acme.ids
    # Staff operate the platform from the admin; they belong to no organization.
    users["staff"] = UserFactory(email="staff@audit-trail.test", is_staff=True, is_superuser=True)
    clients = {"anonymous": Client()}
    for persona in (*SIGNED_IN_PERSONAS, "staff"):
        clients[persona] = Client()
        clients[persona].force_login(users[persona])
    return World(acme, globex, users, clients, tokens, frozenset(Event.objects.values_list("id", flat=True)))


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction that is rolled back at its end."""
    with django_db_blocker.unblock(), override_settings(API_RATE_LIMIT=0), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


# --- calls -------------------------------------------------------------------------------------------

UUID_RE = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
ACCESS_KEY_RE = re.compile(rb"SCW[A-Z0-9]{17}", re.IGNORECASE)
LOGIN = resolve_url("login")


@dataclass
class Outcome:
    label: str
    status: int
    content: bytes
    location: str
    request_id: str
    allow: str  # the Allow header of a 405
    events: list[Event]  # what the call recorded
    sent: set[str]  # every value the request carried, lower case

    def signature(self) -> tuple[Any, ...]:
        """What a caller learns, to compare an answer with another: status and what was recorded."""
        recorded = sorted((str(e.organization_id), e.method_name, e.status_code) for e in self.events)
        return self.status, recorded


def _values(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _values(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _values(value)
    elif data is not None:
        yield str(data)


def send(
    world: World,
    persona: str,
    route: Route,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    label: str = "",
) -> Outcome:
    """One request, in a savepoint rolled back afterwards; what it answered and recorded."""
    extra: dict[str, Any] = {"QUERY_STRING": urlencode(query or {}, doseq=True)}
    extra |= {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
    if route.door == "api":
        # Anonymous on the API has no key, but a signed-in console session: not a credential.
        client = world.clients["owner" if persona == "anonymous" else "anonymous"]
        if world.tokens[persona]:
            extra["HTTP_X_AUTH_TOKEN"] = world.tokens[persona]
        data, content_type = ("" if body is None else json.dumps(body)), "application/json"
    else:
        client = world.clients[persona]
        data, content_type = urlencode(body or {}, doseq=True), "application/x-www-form-urlencoded"
    label = f"{method} {path}{'?' + extra['QUERY_STRING'] if query else ''} as {persona}{label}"
    with transaction.atomic():
        try:
            response = client.generic(method, path, data, content_type, **extra)
        except Exception as error:  # the test client re-raises a view's exception: that is a 500
            raise AssertionError(f"{label}: 500 ({error!r})") from error
        # A streamed answer (a download) is read inside the transaction that its rows live in.
        content = b"".join(response.streaming_content) if response.streaming else response.content
        events = list(Event.objects.exclude(id__in=world.events))
        transaction.set_rollback(True)
    client.cookies.pop("messages", None)  # a flash message belongs to the call that made it
    sent = {v.lower() for v in (*path.split("/"), *_values(query), *_values(body))}
    sent |= _tokens(" ".join(sent).encode())
    return Outcome(
        label,
        response.status_code,
        content,
        response.get("Location", ""),
        response.get("X-Request-Id", ""),
        response.get("Allow", ""),
        events,
        sent,
    )


def _event_blob(event: Event) -> bytes:
    fields = {f.attname: getattr(event, f.attname) for f in Event._meta.concrete_fields}
    return json.dumps(fields, default=str).encode()


def _tokens(blob: bytes) -> set[str]:
    """The ids a text holds: UUIDs and access keys, lower case."""
    return {t.decode().lower() for t in (*UUID_RE.findall(blob), *ACCESS_KEY_RE.findall(blob))}


def _leaks(blob: bytes, org: Org, sent: set[str]) -> list[str]:
    marker, ids = org.foreign_to(sent)
    found = [marker] if marker and marker.encode() in blob.lower() else []
    return found + sorted(_tokens(blob) & ids)


def check_isolated(world: World, persona: str, outcome: Outcome) -> None:
    """No 5xx, nothing of the other organization in the answer, in the trail, or added to its trail."""
    assert outcome.status < 500, f"{outcome.label}: {outcome.status}"
    other = world.other(persona)
    leaked = _leaks(outcome.content + outcome.location.encode(), other, outcome.sent)
    assert not leaked, f"{outcome.label}: the answer shows the other organization's {leaked}"
    for event in outcome.events:
        assert event.organization_id != other.organization.pk, (
            f"{outcome.label}: recorded {event.method_name} in the other organization's trail"
        )
        leaked = _leaks(_event_blob(event), other, outcome.sent)
        assert not leaked, f"{outcome.label}: {event.method_name} recorded the other organization's {leaked}"


def check_refusal(world: World, persona: str, outcome: Outcome, gate: Gate | None) -> None:
    """A 403 is recorded once, in the caller's organization, under the caller; anything else is not."""
    refusals = [e for e in outcome.events if e.status_code == 403]
    if outcome.status != 403:
        assert not refusals, f"{outcome.label}: answered {outcome.status} but recorded a 403"
        return
    if persona not in FILED:
        assert not refusals, f"{outcome.label}: recorded a refusal for a caller of no organization"
        return
    assert len(refusals) == 1, f"{outcome.label}: recorded {len(refusals)} refusals, not one"
    event = refusals[0]
    assert event.organization_id == world.home(persona).organization.pk
    assert event.principal_id == world.users[persona].pk, f"{outcome.label}: refusal not under the caller"
    assert event.request_id == outcome.request_id, f"{outcome.label}: refusal lacks the request id"
    if gate is not None:
        action, method_name = gate
        product_name, _service, locality = REFUSAL_PRODUCTS[action.split(":")[0]]
        assert (event.method_name, event.product_name) == (method_name, product_name), outcome.label
        if locality:
            assert event.locality == locality, outcome.label


# --- expectations --------------------------------------------------------------------------------

ALLOWED, REFUSED, SIGN_IN, NO_ORGANIZATION = "allowed", "refused", "sign in", "no organization"


def expectation(
    world: World, persona: str, route: Route, need: str | tuple[Gate, ...]
) -> tuple[str, Gate | None]:
    """What the persona's rights say of this call: allowed, refused (at which gate), or neither."""
    if need == PUBLIC:
        return ALLOWED, None
    if persona in ("anonymous", "revoked_key", "expired_key") or (
        route.door == "api" and persona == "removed_member"
    ):
        return SIGN_IN, None
    if need == SIGNED_IN:
        return ALLOWED, None
    if persona == "removed_member":
        return NO_ORGANIZATION, None
    grants = grants_for(world.users[persona], world.home(persona).organization)
    assert isinstance(need, tuple)
    for gate in need:
        if not grants.allows(gate[0]):
            return REFUSED, gate
    return ALLOWED, None


def check_expected(route: Route, outcome: Outcome, expected: str) -> None:
    status, label = outcome.status, outcome.label
    if expected == SIGN_IN:
        if route.door == "api":
            assert status == 401, f"{label}: {status}, not 401"
            assert json.loads(outcome.content)["type"] == "denied_authentication", label
        else:
            assert status == 302 and outcome.location.startswith(f"{LOGIN}?next="), (
                f"{label}: not sent to log in"
            )
    elif expected == REFUSED:
        assert status == 403, f"{label}: {status}, not 403"
        if route.door == "api":
            assert json.loads(outcome.content)["type"] == "permissions_denied", label
    elif expected == NO_ORGANIZATION:
        assert status in (403, 404), f"{label}: {status} for a user of no organization"
    else:
        assert status in (200, 204, 302), f"{label}: {status}, not allowed ({outcome.content[:300]!r})"
        assert not outcome.location.startswith(LOGIN), f"{label}: sent a signed-in caller to log in"


# --- the matrix ----------------------------------------------------------------------------------


def fill_kind(route: Route, param: str) -> str:
    key = f"{route.collection_before(param)}/pk" if param == "pk" else param
    if key not in PATH_PARAMS:
        pytest.fail(
            f"{route} ({route.pattern}) has a path parameter {param!r} that the isolation matrix "
            f"cannot fill: add {key!r} to PATH_PARAMS in {__name__}, naming an object of each organization"
        )
    return PATH_PARAMS[key]


def nowhere(kind: str) -> str:
    return NOWHERE.get(kind, NOWHERE_UUID)


def fill(template: Any, fills: dict[str, str]) -> Any:
    """The body with its `{kind}` placeholders (in keys and values) filled from `fills`."""
    if isinstance(template, dict):
        return {fill(k, fills): fill(v, fills) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, fills) for v in template]
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda m: fills[m[1]], template)
    return template


def body_slots(template: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(where, kind) of every id placeholder among the body's values."""
    if isinstance(template, dict):
        for key, value in template.items():
            yield from body_slots(value, (*path, key))
    elif isinstance(template, list):
        for index, value in enumerate(template):
            yield from body_slots(value, (*path, index))
    elif (
        isinstance(template, str)
        and (found := re.fullmatch(r"(.*)\{(\w+)\}(.*)", template))
        and found[2] not in NOT_SLOTS
    ):
        yield path, found[2]


def replaced(data: Any, where: tuple[Any, ...], template: str, value: str) -> Any:
    """A copy of `data` whose value at `where` is `template` filled with `value`."""
    data = json.loads(json.dumps(data))
    if not where:
        return re.sub(r"\{\w+\}", value, template)
    node = data
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = re.sub(r"\{\w+\}", value, template)
    return data


def at(template: Any, where: tuple[Any, ...]) -> Any:
    for step in where:
        template = template[step]
    return template


class Matrix:
    """One route, one HTTP method, one persona: the calls and what each must answer."""

    def __init__(self, world: World, route: Route, method: str, persona: str) -> None:
        self.world, self.route, self.method, self.persona = world, route, method, persona
        self.need = NEEDS[route.name][method]
        self.home, self.other = world.home(persona), world.other(persona)
        self.kinds = {param: fill_kind(route, param) for param in route.params}
        self.template = BODIES.get((route.name, method))
        query = QUERIES.get((route.name, method))
        self.query = fill(query, self.home.fills) if query is not None else None

    def path(self, org: Org | None) -> str:
        """The path with `org`'s objects in every id slot (None: ids that exist nowhere)."""
        values = {}
        for param, kind in self.kinds.items():
            source = self.home if kind in NOT_IDS else org
            values[param] = source.fills[kind] if source is not None else nowhere(kind)
        return self.route.path(values)

    def body(self) -> Any:
        """The route's valid body, from the caller's organization (no body: none, or an empty form)."""
        if self.template is None:
            return None if self.route.door == "api" else {}
        return fill(self.template, self.home.fills)

    def send(self, path: str, **kwargs: Any) -> Outcome:
        return send(self.world, self.persona, self.route, self.method, path, **kwargs)

    def run(self) -> None:
        expected, gate = expectation(self.world, self.persona, self.route, self.need)
        own = self.send(self.path(self.home), query=self.query, body=self.body())
        check_isolated(self.world, self.persona, own)
        check_expected(self.route, own, expected)
        check_refusal(self.world, self.persona, own, gate)
        if expected == ALLOWED and self.method != "GET" and isinstance(self.need, tuple):
            self.check_write_recorded(own)
        if self.route.door == "console" and self.method == "GET" and expected != SIGN_IN:
            self.check_htmx_region(own, gate)
        if self.route.door == "console" and self.method == "GET":
            self.check_head(own, gate)
        if any(kind not in NOT_IDS for kind in self.kinds.values()):
            self.check_foreign_path(expected)
        if expected == ALLOWED and self.need != PUBLIC:
            self.check_foreign_slots(own)

    def check_write_recorded(self, own: Outcome) -> None:
        """An allowed write with a valid body acts, and the action records itself, under the caller."""
        home = self.home.organization.pk
        principal = self.world.users[self.persona].pk
        done = [e for e in own.events if e.status_code == 200 and e.organization_id == home]
        assert done, f"{own.label}: {own.status}, and no event recorded the action ({own.content[:300]!r})"
        assert all(e.principal_id == principal for e in done), f"{own.label}: recorded under someone else"

    def check_htmx_region(self, own: Outcome, gate: Gate | None) -> None:
        """The list region an htmx filter asks for (`HX-Target: results`) answers as the page does."""
        region = self.send(
            self.path(self.home),
            headers={"HX-Request": "true", "HX-Target": "results"},
            label=" (htmx results)",
        )
        check_isolated(self.world, self.persona, region)
        assert region.status == own.status, f"{region.label}: {region.status}, the page {own.status}"
        check_refusal(self.world, self.persona, region, gate)

    def check_head(self, own: Outcome, gate: Gate | None) -> None:
        """HEAD (health checks, link checkers) answers as GET does, with no body, through the same
        gates: a caller refused the page is refused, and recorded, on HEAD too."""
        head = send(self.world, self.persona, self.route, "HEAD", self.path(self.home), label=" (HEAD)")
        check_isolated(self.world, self.persona, head)
        assert (head.status, head.location) == (own.status, own.location), (
            f"{head.label}: {head.status} {head.location}, GET {own.status} {own.location}"
        )
        assert head.content == b"", f"{head.label}: a body"
        check_refusal(self.world, self.persona, head, gate)

    def check_foreign_path(self, expected: str) -> None:
        """The other organization's id in the path: 404, or a recorded 403 for a caller without the
        right; and the same answer as for an id that exists nowhere."""
        foreign = self.send(self.path(self.other), body=self.body(), label=" (the other organization's id)")
        check_isolated(self.world, self.persona, foreign)
        if expected in (SIGN_IN, NO_ORGANIZATION):
            check_expected(self.route, foreign, expected)
        else:
            assert foreign.status in (403, 404), f"{foreign.label}: {foreign.status}, not 404"
            if expected == ALLOWED:
                assert foreign.status == 404, f"{foreign.label}: {foreign.status} for a caller with the right"
        check_refusal(self.world, self.persona, foreign, None)
        absent = self.send(self.path(None), body=self.body(), label=" (an id that exists nowhere)")
        check_isolated(self.world, self.persona, absent)
        assert foreign.signature() == absent.signature(), (
            f"{foreign.label} answers {foreign.signature()}, an id that exists nowhere {absent.signature()}: "
            "the answer tells the other organization's ids apart"
        )

    def query_slots(self, own: Outcome) -> list[str]:
        """The id-taking query parameters this route reads."""
        if self.route.door == "api":
            path = self.route.path({param: f"{{{param}}}" for param in self.route.params})
            operation = openapi.document()["paths"].get(path, {}).get(self.method.lower(), {})
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            names.add("organization_id")
        else:
            names = {m.decode() for m in re.findall(rb'name="(\w+)"', own.content)}
        return [name for name in QUERY_SLOTS if name in names]

    def check_foreign_slots(self, own: Outcome) -> None:
        """The other organization's id in each query or body slot, one at a time: answered as an id
        that exists nowhere, with nothing of the other organization in the answer."""
        path = self.path(self.home)
        if self.method in ("GET", "DELETE"):
            for name in self.query_slots(own):
                self.compare(
                    name, QUERY_SLOTS[name], path, query=lambda v, name=name: {**(self.query or {}), name: v}
                )
            return
        template = self.template if self.template is not None else {}
        for where, kind in body_slots(template):
            self.compare(
                "/".join(map(str, where)),
                kind,
                path,
                body=lambda v, where=where: replaced(self.body(), where, at(template, where), v),
            )
        if self.route.door == "api":
            for name, kind in API_BODY_SLOTS.items():
                self.compare(name, kind, path, body=lambda v, name=name: {**(self.body() or {}), name: v})

    def compare(self, slot: str, kind: str, path: str, **make: Any) -> None:
        def variant(value: str, what: str) -> Outcome:
            kwargs = {key: build(value) for key, build in make.items()}
            return self.send(path, **kwargs, label=f" ({slot}: {what})")

        foreign = variant(self.other.fills[FOREIGN_KIND.get(kind, kind)], "the other organization's")
        check_isolated(self.world, self.persona, foreign)
        check_refusal(self.world, self.persona, foreign, None)
        absent = variant(nowhere(kind), "exists nowhere")
        check_isolated(self.world, self.persona, absent)
        assert foreign.signature() == absent.signature(), (
            f"{foreign.label} answers {foreign.signature()}, an id that exists nowhere {absent.signature()}: "
            "the other organization's id was used, or the answer tells it apart"
        )


def _cases() -> Iterator[Any]:
    for route in ROUTES:
        if route.door == "admin" or route.name in EXEMPT or route.name not in NEEDS:
            continue  # the admin has its own test; test_every_route_is_in_the_matrix fails the unknown
        personas = API_PERSONAS if route.door == "api" else CONSOLE_PERSONAS
        for method in NEEDS[route.name]:
            for persona in personas:
                reason = KNOWN_DEFECTS.get((route.name, method, persona))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(route, method, persona, id=f"{route.name} {method} {persona}", marks=marks)


@pytest.mark.parametrize(("route", "method", "persona"), list(_cases()))
def test_each_route_answers_each_persona_by_its_rights_and_never_crosses_organizations(
    route, method, persona, world
):
    Matrix(world, route, method, persona).run()


# --- every route is known --------------------------------------------------------------------------

PROBE = "PROPFIND"  # a method no route serves: the answer's Allow header says which ones it does


def test_every_route_is_in_the_matrix(world):
    """A new route fails here until the matrix knows how to call it: its path parameters, its
    HTTP methods (asked of the route), and what a caller needs."""
    problems = []
    for route in ROUTES:
        if route.door == "admin" or route.name in EXEMPT:
            continue
        if route.name not in NEEDS:
            problems.append(f"{route} ({route.pattern}): add it to NEEDS (or EXEMPT, with a reason)")
            continue
        try:
            matrix = Matrix(world, route, next(iter(NEEDS[route.name])), "owner")
        except pytest.fail.Exception as error:
            problems.append(str(error))
            continue
        probe = send(world, "owner", route, PROBE, matrix.path(world.acme))
        allowed = {m.strip() for m in probe.allow.split(",") if m.strip()} - {"OPTIONS", "HEAD"}
        if probe.status != 405 or not allowed:
            problems.append(
                f"{route}: answered {PROBE} with {probe.status}; declare its methods (require_http_methods)"
            )
        elif allowed != set(NEEDS[route.name]):
            problems.append(
                f"{route}: serves {sorted(allowed)}, the matrix knows {sorted(NEEDS[route.name])}"
            )
    names = {route.name for route in ROUTES}
    problems += [f"{name}: in NEEDS or EXEMPT, but no such route" for name in {*NEEDS, *EXEMPT} - names]
    assert not problems, "The isolation matrix cannot call:\n" + "\n".join(problems)


# --- the admin -------------------------------------------------------------------------------------

ADMIN_EXEMPT = {
    "admin:login": "the admin's sign-in form (shown, not redirected, to a signed-in non-staff user)",
    "admin:logout": "ends the caller's own session",
}


def _admin_values(route: Route, world: World) -> dict[str, str]:
    """Admin path parameters: an object of the model the URL is about, an app label, a user."""
    segments = [v for kind, v in route.tokens() if kind == "text"]
    parts = "".join(segments).strip("/").split("/")
    model = None
    if len(parts) >= 3:
        try:
            model = apps.get_model(parts[1], parts[2])
        except (LookupError, ValueError):
            model = None
    values = {}
    for param in route.params:
        if param in ("object_id", "id"):
            instance = model._default_manager.order_by("pk").first() if model else None
            values[param] = str(instance.pk) if instance else "0"
        elif param == "content_type_id":
            values[param] = str(ContentType.objects.get_for_model(User).pk)
        elif param == "app_label":
            values[param] = "iam"
        elif param == "url":
            values[param] = "no-such-page/"
        else:
            pytest.fail(
                f"{route} ({route.pattern}) has an admin path parameter {param!r} the matrix cannot fill"
            )
    if route.name == "admin:view_on_site":
        values["object_id"] = str(world.users["outsider"].pk)
    return values


ADMIN_ROUTES = [r for r in ROUTES if r.door == "admin" and r.name not in ADMIN_EXEMPT]
# Whether one may enter is `is_staff` alone, whatever one's role in an organization: the most
# privileged member (the owner, who also tries a write), the least, and no session at all.
ADMIN_CALLERS = [("owner", "GET"), ("owner", "POST"), ("member_without_rights", "GET"), ("anonymous", "GET")]


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=str)
def test_the_admin_sends_everyone_but_staff_to_its_login_and_opens_for_staff(route, world):
    """Staff operate the platform and see every organization there (DESIGN §1); members of an
    organization, even its owner, are not staff: every admin URL sends them to the admin login."""
    path = route.path(_admin_values(route, world))
    admin_login = resolve_url("admin:login")
    for persona, method in ADMIN_CALLERS:
        outcome = send(world, persona, route, method, path)
        check_isolated(world, persona, outcome)
        assert outcome.status == 302 and outcome.location.startswith(admin_login), (
            f"{outcome.label}: {outcome.status} {outcome.location}"
        )
        assert not outcome.events, f"{outcome.label}: recorded {outcome.events}"
    outcome = send(world, "staff", route, "GET", path)
    # 403: what no one may do there, staff included (adding or deleting events, for one).
    assert outcome.status in (200, 302, 403, 404), f"{outcome.label}: {outcome.status}"


# --- acting in another user's name -------------------------------------------------------------------

ROUTES_BY_NAME = {route.name: route for route in ROUTES}


@pytest.mark.parametrize(
    ("door", "persona"),
    [
        ("console", "iam_manager"),
        ("console", "owner"),
        pytest.param("api", "iam_manager"),
        pytest.param("api", "owner"),
    ],
)
def test_no_door_mints_an_api_key_in_another_users_name(world, door, persona):
    """A key acts as its bearer: either door makes one for the caller or an application, never for
    another user (the owner for an IAM manager, a member for the owner)."""
    someone = world.users["iam_manager" if persona == "owner" else "owner"]
    if door == "api":
        route, body = ROUTES_BY_NAME["api-api-keys"], {"user_id": str(someone.pk), "description": "x"}
    else:
        route, body = (
            ROUTES_BY_NAME["iam:api-key-create"],
            {"bearer": f"user:{someone.pk}", "description": "x"},
        )

    outcome = send(world, persona, route, "POST", route.path({}), body=body)

    check_isolated(world, persona, outcome)
    minted = [e for e in outcome.events if e.method_name == "CreateAPIKey" and e.status_code == 200]
    assert not minted, f"{outcome.label}: minted a key in {someone.email}'s name"
    assert outcome.status in ((200,) if door == "console" else (400, 403, 404)), outcome.label
    check_refusal(world, persona, outcome, None)


# --- the matrix fails loudly on what it does not know ------------------------------------------------


def test_a_path_parameter_the_matrix_cannot_fill_fails_with_a_clear_message():
    route = Route("iam:widget", "iam/widgets/<uuid:widget_id>/", "console")

    with pytest.raises(pytest.fail.Exception, match=r"'widget_id'.*add 'widget_id' to PATH_PARAMS"):
        fill_kind(route, "widget_id")


def test_a_pk_is_filled_by_the_collection_it_follows():
    route = Route("iam:group", "iam/groups/<uuid:pk>/members/add/", "console")

    assert fill_kind(route, "pk") == "group"
    with pytest.raises(pytest.fail.Exception, match="'widgets/pk'"):
        fill_kind(Route("iam:widget", "iam/widgets/<uuid:pk>/", "console"), "pk")


def test_routes_are_read_in_route_and_regex_syntax():
    route = Route("admin:app_list", "admin/^(?P<app_label>auth|iam)/$", "admin")

    assert route.params == ["app_label"]
    assert route.path({"app_label": "iam"}) == "/admin/iam/"
