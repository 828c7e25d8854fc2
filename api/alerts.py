"""Audit Trail v1alpha1 alert-rule endpoints, wire-compatible with Scaleway's (reference §2.8, §2.9).

The console's Alerting Management tab and these endpoints read through `alerts.selectors` and
write through `alerts.services`, so they change the same per-(organization, region) settings
and leave the same audit events (SetEnabledAlertRules, CreateCustomAlertRule, ...).

Preconfigured rules have stable ids: `uuid5(RULE_ID_NAMESPACE, name)` (`alerts.rules`). They are
the same in every organization and region and across releases, so a script may keep them, and
the rule's `name` (Scaleway's "technical identifier") maps to exactly one id. Custom rules
(`api.custom_alert_rules`) share this module's constants and declarations.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from django.http import HttpResponse, JsonResponse

from alerts import selectors, services
from alerts.rules import (
    PRECONFIGURED_BY_ID,
    PreconfiguredRule,
    Severity,
)
from api.declare import Args, Body, Field, Param, PathParam, Query, component, operation
from api.http import Params, argument_error, invalid_arguments, not_found
from api.schemas import (
    INTEGER,
    STRING,
    UUID,
    Schema,
    array,
    closed,
)
from audit.services import Actor
from core.regions import REGIONS, is_region
from iam.http import ApiRequest

READ, WRITE = "audit_trail:read", "audit_trail:write"
# AlertRuleStatus and CustomAlertRuleStatus (reference §4). Our changes apply at once, so rules are
# never `enabling` or `disabling`: filtering on those lists nothing.
STATUSES = ("enabled", "disabled", "enabling", "disabling")
SEVERITIES = tuple(value for value, _ in Severity.CHOICES)
# The enums' proto defaults, which Go clients send for "unset".
UNKNOWN_STATUS, UNKNOWN_SEVERITY = "unknown_status", "unknown_severity"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
MAX_IDS = 1000
NAME_MAX, DESCRIPTION_MAX, QUERY_MAX = 100, 500, 4000
OCCURRENCES_MAX = 100_000
# The evaluation window, in whole seconds: the span of the console's choices (1 minute to 24 hours).
WINDOW_MIN, WINDOW_MAX = 60, 24 * 3600
DEFAULT_WINDOW = timedelta(minutes=5)
# Python passes the string through ("300s"); Go's scw.Duration sends "300.000000000s".
DURATION_RE = re.compile(r"^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,9}))?s$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NAME_TAKEN = "a custom rule with this name already exists in this region"


# --- wire shapes -------------------------------------------------------------------------------


def status_json(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def alert_rule_json(rule: PreconfiguredRule, enabled: bool) -> dict[str, Any]:
    """An AlertRule (§3.8)."""
    return {
        "id": str(rule.id),
        "name": rule.name,
        "description": rule.description,
        "status": status_json(enabled),
    }


# --- parsing -----------------------------------------------------------------------------------


def region_check(region: str) -> None:
    if not is_region(region):
        raise invalid_arguments(
            [argument_error("region", "constraint", f"region must be one of: {', '.join(REGIONS)}")]
        )


def parse_ids(params: Params, name: str) -> list[str]:
    """A list of UUID strings (absent = empty), normalized and without repeats."""
    value = params.data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_IDS:
        params.error(name, "format", f"{name} must be a list of at most {MAX_IDS} ids")
        return []
    ids: list[str] = []
    for index, item in enumerate(value):
        if isinstance(item, str) and UUID_RE.fullmatch(item):
            ids.append(str(uuid.UUID(item)))
        else:
            params.error(f"{name}[{index}]", "format", "ids are UUIDs, as the list endpoint gives them")
    return list(dict.fromkeys(ids))


# --- declarations: parameters and wire shapes ---------------------------------------------------
# Scaleway's enums (reference §4).

TAG = "Audit Trail"
REGION = PathParam("region", {"type": "string", "enum": list(REGIONS)}, region_check)
RULE_STATUS: Schema = {"type": "string", "enum": [UNKNOWN_STATUS, *STATUSES]}
SEVERITY: Schema = {"type": "string", "enum": [UNKNOWN_SEVERITY, *SEVERITIES]}
STATUS_FILTER = Query.enum(
    "status", STATUSES, unknown=UNKNOWN_STATUS, description="`unknown_status` or empty: no filter."
)
PAGE = [
    Query.integer("page", minimum=1, maximum=2**31 - 1, default=1),
    Query.integer("page_size", minimum=1, maximum=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE),
]


def id_list(name: str, description: str) -> Param:
    schema = {"type": ["array", "null"], "maxItems": MAX_IDS, "items": UUID, "description": description}
    return Field.custom(name, schema, lambda params: parse_ids(params, name))


UNKNOWN_IDS = "Unknown ids answer not_found and change nothing."
ALERT_RULE_IDS = Body("AlertRuleIdsRequest", [id_list("alert_rule_ids", UNKNOWN_IDS)])
# What alert_rule_json answers.
ALERT_RULE = component(
    "AlertRule",
    closed(
        {
            "id": {**UUID, "description": "Stable: the same for every organization and region."},
            "name": {"type": "string", "examples": ["ApiKeyCreated"]},
            "description": STRING,
            "status": RULE_STATUS,
        },
        required=["id", "name", "description", "status"],
    ),
)
ALERT_RULES = component(
    "AlertRulesResponse", closed({"alert_rules": array(ALERT_RULE)}, required=["alert_rules"])
)
# --- preconfigured rules (§2.8) ----------------------------------------------------------------


def _preconfigured(ids: list[str]) -> list[PreconfiguredRule]:
    for rule_id in ids:
        if rule_id not in PRECONFIGURED_BY_ID:
            raise not_found("alert_rule", rule_id)
    return [PRECONFIGURED_BY_ID[rule_id] for rule_id in ids]


@operation(
    "GET",
    "ListAlertRules",
    summary="List the preconfigured alert rules and whether each is enabled in the region",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=[STATUS_FILTER, *PAGE],
    response=component(
        "ListAlertRulesResponse",
        closed(
            {"alert_rules": array(ALERT_RULE), "total_count": INTEGER},
            required=["alert_rules", "total_count"],
        ),
    ),
)
def list_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListAlertRules: the five preconfigured rules and their state in the region."""
    states = selectors.alert_rule_states(organization=request.organization, region=region)
    rules = [alert_rule_json(s.rule, s.active) for s in states]
    if args["status"] is not None:
        rules = [r for r in rules if r["status"] == args["status"]]
    start = (args["page"] - 1) * args["page_size"]
    return JsonResponse({"alert_rules": rules[start : start + args["page_size"]], "total_count": len(rules)})


@operation(
    "PATCH",
    "SetEnabledAlertRules",
    summary="Enable exactly these preconfigured rules in the region (the others are disabled)",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=Body(
        "SetEnabledAlertRulesRequest",
        [id_list("enabled_alert_rule_ids", "The complete set of enabled rules; the others are disabled.")],
    ),
    response=ALERT_RULES,
)
def set_enabled_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """SetEnabledAlertRules: exactly these rules are active afterwards. Answers all five."""
    rules = _preconfigured(args["enabled_alert_rule_ids"])
    states = services.alert_rule_set_enabled(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        enabled_alert_rule_ids=[rule.id for rule in rules],
    )
    return JsonResponse({"alert_rules": [alert_rule_json(rule, enabled) for rule, enabled in states]})


def _switch_alert_rules(request: ApiRequest, args: Args, region: str, *, enable: bool) -> HttpResponse:
    rules = _preconfigured(args["alert_rule_ids"])
    service = services.alert_rule_enable if enable else services.alert_rule_disable
    done = service(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        alert_rule_ids=[rule.id for rule in rules],
    )
    return JsonResponse({"alert_rules": [alert_rule_json(rule, enable) for rule in done]})


@operation(
    "POST",
    "EnableAlertRules",
    summary="Enable preconfigured rules in the region",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=ALERT_RULE_IDS,
    response=ALERT_RULES,
)
def enable_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """EnableAlertRules: answers the rules that were enabled."""
    return _switch_alert_rules(request, args, region, enable=True)


@operation(
    "POST",
    "DisableAlertRules",
    summary="Disable preconfigured rules in the region",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=ALERT_RULE_IDS,
    response=ALERT_RULES,
)
def disable_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """DisableAlertRules: answers the rules that were disabled."""
    return _switch_alert_rules(request, args, region, enable=False)
