"""IAM API v1alpha1: policies (list, create, get, update, delete, clone), their rules (SetRules,
ListRules) and the permission sets (ListPermissionSets).

Wire shapes of Scaleway's (reference §8.2, §8.3). Every write goes through `iam.services`, as the
console's do: the same checks (members only, the organization's projects, organization-level
permission sets never on projects) and the same events (CreatePolicy, SetRules…).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpResponse, JsonResponse

from api.declare import Args, Body, Field, Param, PathParam, Query, component
from api.http import Params, deny, not_found, permissions_denied
from api.iam import GLOBAL, PAGE, _page, iam_operation
from api.iam_fields import (
    NAME_MAX,
    TAGS_FIELD,
    body_uuids,
    description_field,
    get_or_404,
    name_field,
    path_resources,
    query_uuids,
    refused,
)
from api.schemas import INTEGER, STRING, TIMESTAMP, UUID, Schema, array, closed, optional
from audit.services import Actor
from core.time import iso
from iam.http import ApiRequest
from iam.models import Application, Group, Policy, Project, Rule
from iam.permission_sets import CATALOGUE, IAM_METHOD_ACTIONS
from iam.selectors import member_users
from iam.services import (
    IamError,
    PolicyPrincipal,
    RuleSpec,
    policy_clone,
    policy_create,
    policy_delete,
    policy_update,
)

MAX_RULES = 20  # as many as the console's form takes
POLICY_ORDER = {
    "policy_name_asc": ("name", "pk"),
    "policy_name_desc": ("-name", "-pk"),
    "created_at_asc": ("created_at", "pk"),
    "created_at_desc": ("-created_at", "-pk"),
}
SCOPE_TYPES = ("projects", "organization", "account_root_user")
BOOLEAN: Schema = {"type": "boolean"}
POLICY_PATH = PathParam("policy_id", UUID)
PRINCIPALS = ("user_id", "group_id", "application_id")


def _rules(policy: Policy) -> list[Rule]:
    return list(policy.rules.all())  # prefetched, ordered by pk


def policy_json(policy: Policy) -> dict[str, Any]:
    rules = _rules(policy)
    scopes = {
        str(p) if r.scope_type == Rule.ScopeType.PROJECTS else "organization"
        for r in rules
        for p in (r.project_ids if r.scope_type == Rule.ScopeType.PROJECTS else [None])
    }
    data: dict[str, Any] = {
        "id": str(policy.pk),
        "name": policy.name,
        "description": policy.description,
        "organization_id": str(policy.organization_id),
        "created_at": iso(policy.created_at),
        "updated_at": iso(policy.updated_at),
        "editable": True,
        "deletable": True,
        "managed": False,
        "nb_rules": len(rules),
        "nb_scopes": len(scopes),
        "nb_permission_sets": len({n for r in rules for n in r.permission_set_names}),
        "tags": [],
    }
    if policy.user_id:
        data["user_id"] = str(policy.user_id)
    elif policy.group_id:
        data["group_id"] = str(policy.group_id)
    elif policy.application_id:
        data["application_id"] = str(policy.application_id)
    else:
        data["no_principal"] = True
    return data


def rule_json(rule: Rule, organization_id: uuid.UUID) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(rule.pk),
        "permission_sets_scope_type": rule.scope_type,
        "condition": "",
        "permission_set_names": list(rule.permission_set_names),
    }
    if rule.scope_type == Rule.ScopeType.PROJECTS:
        data["project_ids"] = [str(p) for p in rule.project_ids]
    else:
        data["organization_id"] = str(organization_id)
    return data


POLICY = component(
    "Policy",
    closed(
        {
            "id": UUID,
            "name": STRING,
            "description": STRING,
            "organization_id": UUID,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "editable": BOOLEAN,
            "deletable": BOOLEAN,
            "managed": BOOLEAN,
            "nb_rules": INTEGER,
            "nb_scopes": INTEGER,
            "nb_permission_sets": INTEGER,
            "tags": array(STRING),
            "user_id": UUID,
            "group_id": UUID,
            "application_id": UUID,
            "no_principal": BOOLEAN,
        },
        required=["id", "name", "organization_id", "created_at", "nb_rules", "tags"],
    ),
)
RULE = component(
    "Rule",
    closed(
        {
            "id": UUID,
            "permission_sets_scope_type": {"type": "string", "enum": ["organization", "projects"]},
            "condition": STRING,
            "permission_set_names": array(STRING),
            "organization_id": UUID,
            "project_ids": array(UUID),
        },
        required=["id", "permission_sets_scope_type", "permission_set_names"],
    ),
)
RULE_SPECS: Schema = {
    "type": "object",
    "required": ["permission_set_names"],
    "properties": {
        "permission_set_names": array({"type": "string", "enum": list(CATALOGUE)}, minItems=1),
        "condition": {"anyOf": [{"const": ""}, {"type": "null"}], "description": "Not supported: empty."},
        "organization_id": {**optional(UUID), "description": "The key's organization: the rule's scope."},
        "project_ids": {"anyOf": [array(UUID, maxItems=100), {"type": "null"}]},
        "account_root_user_id": {"enum": ["", None], "description": "Not supported: empty."},
    },
    "description": "One scope: organization_id or project_ids (non-empty); neither is the organization.",
    "not": {
        "required": ["organization_id", "project_ids"],
        "properties": {"organization_id": UUID, "project_ids": {"type": "array", "minItems": 1}},
    },
}
RULES_FIELD_SCHEMA: Schema = array(RULE_SPECS, minItems=1, maxItems=MAX_RULES)


def _policies(request: ApiRequest) -> QuerySet[Policy]:
    return Policy.objects.filter(organization=request.organization).prefetch_related(
        Prefetch("rules", queryset=Rule.objects.order_by("pk"))
    )


# --- rules in a body ---------------------------------------------------------------------------


def _rule_spec(params: Params, index: int, raw: Any) -> tuple[RuleSpec, str | None] | None:
    """One RuleSpecs object: the rule, and the organization it names as its scope (checked later)."""
    name = f"rules.{index}"
    if not isinstance(raw, dict):
        params.error(name, "format", "a rule is an object")
        return None
    names = raw.get("permission_set_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        params.error(f"{name}.permission_set_names", "required", "name at least one permission set")
        return None
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        params.error(
            f"{name}.permission_set_names", "constraint", f"unknown permission set: {unknown[0][:64]}"
        )
        return None
    if raw.get("condition"):
        params.error(f"{name}.condition", "constraint", "conditions are not supported")
        return None
    if raw.get("account_root_user_id"):
        params.error(
            f"{name}.account_root_user_id", "constraint", "scope a rule to the organization or projects"
        )
        return None
    # An empty list is unset, as protobuf reads it: the Python SDK sends `project_ids: []` (and
    # drops organization_id) for every organization-scoped rule. No scope is the organization.
    organization, projects = raw.get("organization_id"), raw.get("project_ids")
    if organization is not None and not isinstance(organization, str):
        params.error(f"{name}.organization_id", "format", "organization_id must be a UUID")
        return None
    if projects is not None and not isinstance(projects, list):
        params.error(f"{name}.project_ids", "format", "project_ids must be a list of UUIDs")
        return None
    organization, projects = organization or None, projects or None
    if organization and projects:
        params.error(name, "constraint", "give one scope: organization_id or project_ids")
        return None
    if not projects:
        if organization is None:
            return RuleSpec(permission_set_names=names), None
        if not isinstance(organization, str):
            params.error(f"{name}.organization_id", "format", "organization_id must be a UUID")
            return None
        return RuleSpec(permission_set_names=names), organization
    scope = Params({"project_ids": projects})
    ids = body_uuids("project_ids").read(scope)
    if scope.errors or not ids:
        params.error(f"{name}.project_ids", "format", "project_ids must be a list of at most 100 UUIDs")
        return None
    return RuleSpec(permission_set_names=names, project_ids=ids), None


def _parse_rules(params: Params) -> list[tuple[RuleSpec, str | None]] | None:
    raw = params.data.get("rules")
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        params.error("rules", "format", f"rules must be a list of at most {MAX_RULES} rules")
        return None
    return [rule for i, item in enumerate(raw) if (rule := _rule_spec(params, i, item)) is not None]


def rules_field() -> Param:
    return Field.custom("rules", RULES_FIELD_SCHEMA, _parse_rules)


def _check_rules(request: ApiRequest, args: Args, params: Params, *, required: bool, method: str) -> None:
    """args["rules"]: the RuleSpecs, each scoped to the key's organization or its projects. Another
    organization as a scope is refused as `organization_id` is (recorded); an unknown project is
    not found."""
    parsed = args["rules"]
    if parsed is None:
        if required:
            params.error("rules", "required", "a policy needs at least one rule")
        return
    organization_id = str(request.organization.pk)
    if any(
        organization is not None and organization.lower() != organization_id for _, organization in parsed
    ):
        action = IAM_METHOD_ACTIONS[method]
        deny(request, action, method=method, locality=GLOBAL)
        raise permissions_denied(action)
    specs = [spec for spec, _ in parsed]
    wanted = {str(p) for spec in specs for p in spec.project_ids}
    if wanted:
        known = {
            str(p)
            for p in Project.objects.filter(organization=request.organization, pk__in=wanted).values_list(
                "pk", flat=True
            )
        }
        if wanted - known:
            raise not_found("project", min(wanted - known))
    args["rules"] = specs


# --- principals in a body ----------------------------------------------------------------------


PRINCIPAL_FIELDS = [
    Field.uuid("user_id"),
    Field.uuid("group_id"),
    Field.uuid("application_id"),
    Field.custom("no_principal", {"type": ["boolean", "null"]}, lambda p: p.boolean("no_principal")),
]
PRINCIPAL_HELP = "At most one of user_id, group_id, application_id and no_principal: true."


def _both(a: str, b: str) -> Schema:
    given = {"const": True} if b == "no_principal" else UUID
    return {"required": [a, b], "properties": {a: UUID, b: given}}


# What the documentation says a body cannot hold: two principals at once (null and "" are absent).
ONE_PRINCIPAL: Schema = {
    "description": PRINCIPAL_HELP,
    "not": {
        "anyOf": [
            _both(a, b) for i, a in enumerate(PRINCIPALS) for b in [*PRINCIPALS[i + 1 :], "no_principal"]
        ]
    },
}


def _principal(request: ApiRequest, args: Args, params: Params) -> tuple[bool, PolicyPrincipal]:
    """(whether a principal was given, the principal): a member, a group or an application of the
    key's organization. An id of anything else is invalid, as an id that exists nowhere."""
    given = [name for name in PRINCIPALS if args[name] is not None] + (
        ["no_principal"] if args["no_principal"] else []
    )
    if len(given) > 1:
        params.error(given[1], "constraint", PRINCIPAL_HELP)
        return False, None
    if not given or given[0] == "no_principal":
        return bool(given), None
    name = given[0]
    organization = request.organization
    found: PolicyPrincipal
    if name == "user_id":
        found = member_users(organization=organization).filter(pk=args[name]).first()
    elif name == "group_id":
        found = Group.objects.filter(organization=organization, pk=args[name]).first()
    else:
        found = Application.objects.filter(organization=organization, pk=args[name]).first()
    if found is None:  # another organization's, or nobody's: the same answer
        raise not_found(name[:-3], str(args[name]))
    return True, found


# --- policies ----------------------------------------------------------------------------------


@iam_operation(
    "GET",
    "ListPolicies",
    summary="List the organization's policies",
    query=[
        *PAGE,
        Query.enum("order_by", POLICY_ORDER, default="created_at_asc"),
        Query.boolean("editable"),
        query_uuids("user_ids"),
        query_uuids("group_ids"),
        query_uuids("application_ids"),
        Query.boolean("no_principal"),
        Query.string("policy_name", max_length=NAME_MAX),
        Query.string("tag", max_length=NAME_MAX),
        query_uuids("policy_ids"),
    ],
    response=component(
        "ListPoliciesResponse",
        closed({"policies": array(POLICY), "total_count": INTEGER}, required=["policies", "total_count"]),
    ),
)
def list_policies(request: ApiRequest, args: Args) -> HttpResponse:
    """ListPolicies: on (organization, name) or (organization, created_at), with Scaleway's filters."""
    qs = _policies(request)
    principals = Q()
    for name, field in (("user_ids", "user"), ("group_ids", "group"), ("application_ids", "application")):
        if args[name]:
            principals |= Q(**{f"{field}__in": args[name]})
    qs = qs.filter(principals)
    if args["no_principal"] is not None:
        no_principal = Q(user__isnull=True, group__isnull=True, application__isnull=True)
        qs = qs.filter(no_principal) if args["no_principal"] else qs.exclude(no_principal)
    if args["editable"] is False or args["tag"]:  # every policy is editable; none has tags
        qs = qs.none()
    if args["policy_name"]:
        qs = qs.filter(name__icontains=args["policy_name"])
    if args["policy_ids"]:
        qs = qs.filter(pk__in=args["policy_ids"])
    qs = qs.order_by(*POLICY_ORDER[args["order_by"]])
    policies = [policy_json(p) for p in _page(qs, args)]
    return JsonResponse({"policies": policies, "total_count": qs.count()})


def _check_create(request: ApiRequest, args: Args, params: Params) -> None:
    _check_rules(request, args, params, required=True, method="CreatePolicy")
    args["principal"] = _principal(request, args, params)[1]


@iam_operation(
    "POST",
    "CreatePolicy",
    summary="Create a policy with its rules (audited as CreatePolicy)",
    body=Body(
        "CreatePolicyRequest",
        [name_field(required=True), description_field(), rules_field(), TAGS_FIELD, *PRINCIPAL_FIELDS],
        required=["name", "rules"],
        extra=ONE_PRINCIPAL,
    ),
    validate=_check_create,
    response=POLICY,
)
def create_policy(request: ApiRequest, args: Args) -> HttpResponse:
    try:
        policy = policy_create(
            actor=Actor.of(request.principal, request=request),
            organization=request.organization,
            name=args["name"],
            description=args["description"] or "",
            principal=args["principal"],
            rules=args["rules"],
        )
    except IamError as error:
        raise refused("rules", str(error)) from None
    return JsonResponse(policy_json(_policies(request).get(pk=policy.pk)))


@iam_operation("GET", "GetPolicy", summary="Get one policy", path=[POLICY_PATH], response=POLICY)
def get_policy(request: ApiRequest, args: Args, policy_id: str) -> HttpResponse:
    return JsonResponse(policy_json(get_or_404(_policies(request), "policy", policy_id)))


def _check_update(request: ApiRequest, args: Args, params: Params, policy_id: str) -> None:
    args["policy"] = get_or_404(_policies(request), "policy", policy_id)
    args["principal_given"], args["principal"] = _principal(request, args, params)


@iam_operation(
    "PATCH",
    "UpdatePolicy",
    summary="Rename a policy or change its principal (audited as UpdatePolicy)",
    path=[POLICY_PATH],
    body=Body(
        "UpdatePolicyRequest",
        [name_field(required=False), description_field(), TAGS_FIELD, *PRINCIPAL_FIELDS],
        extra={**ONE_PRINCIPAL, "description": "What is left out is kept. " + PRINCIPAL_HELP},
    ),
    resources=path_resources("iam_policy"),
    validate=_check_update,
    response=POLICY,
)
def update_policy(request: ApiRequest, args: Args, policy_id: str) -> HttpResponse:
    policy: Policy = args["policy"]
    try:
        policy_update(
            actor=Actor.of(request.principal, request=request),
            policy=policy,
            name=args["name"] or policy.name,
            description=policy.description if args["description"] is None else args["description"],
            principal=args["principal"] if args["principal_given"] else policy.principal,
            rules=None,
        )
    except IamError as error:
        raise refused("user_id", str(error)) from None
    return JsonResponse(policy_json(_policies(request).get(pk=policy.pk)))


@iam_operation(
    "DELETE",
    "DeletePolicy",
    summary="Delete a policy (audited as DeletePolicy)",
    path=[POLICY_PATH],
    resources=path_resources("iam_policy"),
    response=None,
    status=204,
)
def delete_policy(request: ApiRequest, args: Args, policy_id: str) -> HttpResponse:
    policy = get_or_404(_policies(request), "policy", policy_id)
    policy_delete(actor=Actor.of(request.principal, request=request), policy=policy)
    return HttpResponse(status=204)


@iam_operation(
    "POST",
    "ClonePolicy",
    summary="Copy a policy, its principal and its rules (audited as ClonePolicy)",
    path=[POLICY_PATH],
    body=Body("ClonePolicyRequest"),
    resources=path_resources("iam_policy"),
    response=POLICY,
)
def clone_policy(request: ApiRequest, args: Args, policy_id: str) -> HttpResponse:
    policy = get_or_404(_policies(request), "policy", policy_id)
    clone = policy_clone(actor=Actor.of(request.principal, request=request), policy=policy)
    return JsonResponse(policy_json(_policies(request).get(pk=clone.pk)))
