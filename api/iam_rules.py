"""IAM API v1alpha1: the rules of a policy (SetRules, ListRules) and the permission sets a rule
can grant (ListPermissionSets). Wire shapes of Scaleway's (reference §8.2, §8.3)."""

from __future__ import annotations

import uuid

from django.http import HttpResponse, JsonResponse

from api.declare import Args, Body, Field, Query, component
from api.http import Params
from api.iam import PAGE, _page, iam_operation
from api.iam_fields import get_or_404, refused
from api.iam_policies import RULE, SCOPE_TYPES, _check_rules, _policies, rule_json, rules_field
from api.schemas import INTEGER, STRING, UUID, array, closed
from audit.services import Actor
from iam.http import ApiRequest
from iam.models import Policy, Rule
from iam.permission_sets import CATALOGUE
from iam.services import IamError, policy_rules_set

PERMISSION_SET_ORDER = ("name_asc", "name_desc", "created_at_asc", "created_at_desc")


# --- rules -------------------------------------------------------------------------------------


def _check_set_rules(request: ApiRequest, args: Args, params: Params) -> None:
    if args["policy_id"] is not None:
        args["policy"] = get_or_404(_policies(request), "policy", str(args["policy_id"]))
    _check_rules(request, args, params, required=True, method="SetRules")


@iam_operation(
    "PUT",
    "SetRules",
    summary="Overwrite the rules of a policy (audited as SetRules)",
    body=Body(
        "SetRulesRequest",
        [Field.custom("policy_id", UUID, lambda p: p.uuid("policy_id", required=True)), rules_field()],
        required=["policy_id", "rules"],
    ),
    validate=_check_set_rules,
    response=component("SetRulesResponse", closed({"rules": array(RULE)}, required=["rules"])),
)
def set_rules(request: ApiRequest, args: Args) -> HttpResponse:
    policy: Policy = args["policy"]
    try:
        rules = policy_rules_set(
            actor=Actor.of(request.principal, request=request), policy=policy, rules=args["rules"]
        )
    except IamError as error:
        raise refused("rules", str(error)) from None
    return JsonResponse({"rules": [rule_json(r, policy.organization_id) for r in rules]})


@iam_operation(
    "GET",
    "ListRules",
    summary="List the rules of a policy",
    query=[Query.uuid("policy_id", "The policy's rules; without it, every policy's."), *PAGE],
    response=component(
        "ListRulesResponse",
        closed({"rules": array(RULE), "total_count": INTEGER}, required=["rules", "total_count"]),
    ),
)
def list_rules(request: ApiRequest, args: Args) -> HttpResponse:
    """ListRules: a policy's rules in their order (or, without policy_id, every policy's)."""
    qs = Rule.objects.filter(policy__organization=request.organization)
    if args["policy_id"] is not None:
        policy = get_or_404(
            Policy.objects.filter(organization=request.organization), "policy", str(args["policy_id"])
        )
        qs = qs.filter(policy=policy)
    qs = qs.order_by("policy_id", "pk")
    rules = [rule_json(r, request.organization.pk) for r in _page(qs, args)]
    return JsonResponse({"rules": rules, "total_count": qs.count()})


# --- permission sets ---------------------------------------------------------------------------


def permission_set_id(name: str) -> str:
    """A stable id per permission set (the catalogue is the code's, not the database's)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"scaleway:iam:permission-set:{name}"))


PERMISSION_SET = component(
    "PermissionSet",
    closed(
        {
            "id": UUID,
            "name": STRING,
            "scope_type": {"type": "string", "enum": ["unknown_scope_type", *SCOPE_TYPES]},
            "description": STRING,
            "categories": array(STRING),
        },
        required=["id", "name", "scope_type", "description", "categories"],
    ),
)


@iam_operation(
    "GET",
    "ListPermissionSets",
    summary="List the permission sets a rule can grant",
    query=[*PAGE, Query.enum("order_by", PERMISSION_SET_ORDER, default="created_at_asc")],
    response=component(
        "ListPermissionSetsResponse",
        closed(
            {"permission_sets": array(PERMISSION_SET), "total_count": INTEGER},
            required=["permission_sets", "total_count"],
        ),
    ),
)
def list_permission_sets(request: ApiRequest, args: Args) -> HttpResponse:
    """ListPermissionSets: the catalogue, in its own order (created_at) or by name."""
    sets = list(CATALOGUE.values())
    if args["order_by"].startswith("name"):
        sets.sort(key=lambda s: s.name)
    if args["order_by"].endswith("_desc"):
        sets.reverse()
    start = (args["page"] - 1) * args["page_size"]
    page = [
        {
            "id": permission_set_id(s.name),
            "name": s.name,
            "scope_type": s.scope_type,
            "description": s.description,
            "categories": [s.category],
        }
        for s in sets[start : start + args["page_size"]]
    ]
    return JsonResponse({"permission_sets": page, "total_count": len(sets)})
