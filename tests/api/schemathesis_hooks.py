"""Schemathesis hooks for the conformance run: realistic values where a JSON Schema cannot say what
the API accepts.

The OpenAPI document describes every rule a schema can express, and schemathesis holds the API to
it both ways. Four rules depend on the server's state or on a language the schema cannot describe,
so a request that is "valid" by the schema may rightly be refused with invalid_arguments:

- a `page_token` is opaque: only one the API issued, for the same filters, is valid;
- a custom rule's `query` is a CEL expression (checked as the console checks it);
- a custom rule's `name` is unique in its region;
- a new API key's `expires_at` is in the future;
- an export job's `s3.project_id` is one of the organization's projects;
- a policy's rules are scoped to the key's organization or its projects (and organization-level
  permission sets to the organization only), and its principal is one of the organization's;
- an invited address is not already invited;
- a group's new members are the organization's members and applications;
- a group's name is not another group's, whatever the case;
- an ingested event belongs to the API key's organization (and to one of its projects, if any),
  was recorded between the epoch and 5 minutes from now, and its resources carry at most one
  `<type>_info` object each (audit.ingest).

For positive cases only, these hooks put in a value that satisfies the rule: no page token, a
simple CEL expression, a name not used yet, a date a year ahead, the key's organization, one of
its projects, a moment of the last hour. Negative cases are left as generated: the API must refuse
each of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from schemathesis import Case, GenerationMode

from iam.models import Organization

RULE_QUERY = 'status_code == 403 && product_name == "secret-manager"'


def _is_positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def _unique_name() -> str:
    return f"schemathesis rule {uuid.uuid4().hex[:12]}"


def _recorded_at(value: Any, index: int) -> str:
    """A moment of the last hour, in the generated value's offset when it has one (so offsets
    stay varied): the current month's partition holds it, and it is not in the future. Spaced by
    the event's index, deterministic up to the clock."""
    moment = timezone.now() - timedelta(minutes=30, seconds=index)
    try:
        offset = datetime.fromisoformat(value).tzinfo if isinstance(value, str) else None
    except ValueError:
        offset = None
    return moment.astimezone(offset).isoformat() if offset is not None else moment.isoformat()


def _ingestable(events: list[Any], organization_id: str, project_ids: Sequence[str]) -> None:
    """Each generated event made the key's organization's, recorded within the accepted window."""
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            continue
        if event.get("organization_id") is not None:
            event["organization_id"] = organization_id
        if event.get("project_id") is not None:
            event["project_id"] = project_ids[index % len(project_ids)] if project_ids else None
        if event.get("recorded_at") is not None:
            event["recorded_at"] = _recorded_at(event["recorded_at"], index)
        for resource in event.get("resources") or ():
            # A resource carries at most one `<type>_info` object.
            for key in [key for key in resource if key.endswith("_info")][1:]:
                del resource[key]


PROJECT_SCOPED = "SecretManagerFullAccess"


def _policy_of(body: dict[str, Any], organization_id: str, project_ids: Sequence[str]) -> None:
    """Rules scoped to the key's organization or its first project; no principal (ids that the
    organization does not have are refused as they should be)."""
    for name in ("user_id", "group_id", "application_id"):
        body.pop(name, None)
    for rule in body.get("rules") or ():
        if not isinstance(rule, dict):
            continue
        if rule.get("project_ids") and project_ids:
            rule["project_ids"] = [project_ids[0]]
            rule["permission_set_names"] = [PROJECT_SCOPED]
            rule.pop("organization_id", None)
        elif rule.get("project_ids"):
            rule["project_ids"] = []
        if rule.get("organization_id"):
            rule["organization_id"] = organization_id


MEMBER_WRITES = {"SetGroupMembers", "AddGroupMembers", "AddGroupMember", "RemoveGroupMember"}


def _is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _members_of(body: dict[str, Any], members: dict[str, list[str]]) -> None:
    """Ids of the organization's members and applications in place of generated ones. Only
    well-formed ids are replaced, so a case that is invalid stays invalid (and the stateful
    phase, which links a created group to these calls, gets ids that exist too)."""
    for kind, ids in members.items():
        if _is_uuid(body.get(f"{kind}_id")):
            body[f"{kind}_id"] = ids[0] if ids else None
        listed = body.get(f"{kind}_ids")
        if isinstance(listed, list) and all(_is_uuid(v) for v in listed):
            body[f"{kind}_ids"] = ids[: len(listed)]


def hooks(organization: Organization) -> list[Callable[..., Any]]:
    """The hooks for a run whose API key belongs to `organization` (its projects read now)."""
    organization_id = str(organization.pk)
    projects = [str(pk) for pk in organization.projects.order_by("pk").values_list("pk", flat=True)]
    members = {
        "user": [str(organization.owner_id)],
        "application": [
            str(pk) for pk in organization.applications.order_by("pk").values_list("pk", flat=True)
        ],
    }

    def map_case(context: Any, case: Case) -> Case:
        case = _map_case(case)
        operation = case.operation.definition.raw["operationId"]
        if _is_positive(case) and operation == "CreatePolicy" and isinstance(case.body, dict):
            _policy_of(case.body, organization_id, projects)
        if operation in MEMBER_WRITES and isinstance(case.body, dict):  # every phase: see _members_of
            _members_of(case.body, members)
        if _is_positive(case) and operation == "CreateExportJob":
            s3 = case.body.get("s3") if isinstance(case.body, dict) else None
            if isinstance(s3, dict) and s3.get("project_id") is not None:
                s3["project_id"] = projects[0] if projects else None
        if _is_positive(case) and case.operation.definition.raw["operationId"] == "IngestEvents":
            events = case.body.get("events") if isinstance(case.body, dict) else case.body
            if isinstance(events, list):
                _ingestable(events, organization_id, projects)
        return case

    # The examples phase builds its cases from the document's examples without calling map_case.
    def before_add_examples(context: Any, examples: list[Case]) -> None:
        examples[:] = [map_case(context, case) for case in examples]

    return [map_case, before_add_examples]


def _map_case(case: Case) -> Case:
    if not _is_positive(case):
        return case
    operation = case.operation.definition.raw["operationId"]
    if isinstance(case.query, dict):
        case.query.pop("page_token", None)
    body = case.body if isinstance(case.body, dict) else None
    if body is None:
        return case
    if operation == "CreateCustomAlertRule":
        body["query"] = RULE_QUERY
        body["name"] = _unique_name()
    elif operation == "UpdateCustomAlertRule" and isinstance(body.get("name"), str):
        body["name"] = _unique_name()
    elif operation in ("CreateGroup", "UpdateGroup") and isinstance(body.get("name"), str):
        body["name"] = f"schemathesis group {uuid.uuid4().hex[:12]}"  # a group's name is its own
    elif operation == "CreateUser":
        body["email"] = f"invitee-{uuid.uuid4().hex[:12]}@example.org"
    elif operation == "CreateAPIKey" and body.get("expires_at"):
        body["expires_at"] = (timezone.now() + timedelta(days=365)).isoformat()
    return case
