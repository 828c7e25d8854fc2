"""Custom alert rules (reference §2.9): CEL rules an organization writes, per region.

Parsed and checked exactly as the console's form checks them (the same name rule, the same CEL
compiler, the same window bounds), and written through `alerts.services`, which records their
audit events. A rule from another organization, or from another region than the path's, is
`not_found`. The shared declarations (region, status filter, paging, id lists) are `api.alerts`'.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpResponse, JsonResponse

from alerts import selectors, services
from alerts.models import CustomAlertRule
from alerts.rules import ExpressionError, RuleNameError, Severity, check_rule_name, compile_expression
from api.alerts import (
    DEFAULT_WINDOW,
    DESCRIPTION_MAX,
    DURATION_RE,
    NAME_MAX,
    NAME_TAKEN,
    OCCURRENCES_MAX,
    PAGE,
    QUERY_MAX,
    READ,
    REGION,
    RULE_STATUS,
    SEVERITIES,
    SEVERITY,
    STATUS_FILTER,
    TAG,
    UNKNOWN_IDS,
    UNKNOWN_SEVERITY,
    WINDOW_MAX,
    WINDOW_MIN,
    WRITE,
    id_list,
    status_json,
)
from api.declare import Args, Body, Field, PathParam, component, operation
from api.http import ApiError, Params, argument_error, invalid_arguments, not_found
from api.schemas import (
    INTEGER,
    NO_NUL,
    NOT_BLANK,
    SINGLE_LINE_NAME,
    STRING,
    TIMESTAMP,
    UUID,
    Schema,
    array,
    closed,
)
from audit.services import Actor
from core.time import iso
from iam.http import ApiRequest

CUSTOM_RULE_TYPE = "audit_trail_custom_alert_rule"
CUSTOM_RULE_ID = PathParam("custom_alert_rule_id", UUID)


# --- wire shapes -------------------------------------------------------------------------------


def duration_json(value: timedelta) -> str:
    """ "300s": both SDKs read it (Go's scw.Duration parses any "<float>s")."""
    return f"{int(value.total_seconds())}s"


def custom_alert_rule_json(rule: CustomAlertRule) -> dict[str, Any]:
    """A CustomAlertRule (§3.9); an empty description is null."""
    return {
        "id": str(rule.pk),
        "name": rule.name,
        "description": rule.description or None,
        "status": status_json(rule.enabled),
        "query": rule.query,
        "evaluation_window": duration_json(rule.evaluation_window),
        "occurrences": rule.occurrences,
        "severity": rule.severity,
        "created_at": iso(rule.created_at),
        "updated_at": iso(rule.updated_at),
    }


# What custom_alert_rule_json answers.
CUSTOM_ALERT_RULE = component(
    "CustomAlertRule",
    closed(
        {
            "id": UUID,
            "name": STRING,
            "description": {"type": ["string", "null"]},
            "status": RULE_STATUS,
            "query": {"type": "string", "description": "A CEL expression over the event's fields."},
            "evaluation_window": {"type": "string", "pattern": "^[0-9]+s$", "examples": ["300s"]},
            "occurrences": INTEGER,
            "severity": SEVERITY,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        },
        required=["id", "name", "status", "query", "occurrences", "severity"],
    ),
)
CUSTOM_ALERT_RULES = component(
    "CustomAlertRulesResponse",
    closed({"custom_alert_rules": array(CUSTOM_ALERT_RULE)}, required=["custom_alert_rules"]),
)


# --- parsing -----------------------------------------------------------------------------------


def _evaluation_window(params: Params) -> timedelta:
    raw = params.data.get("evaluation_window")
    if raw is None:
        return DEFAULT_WINDOW
    found = DURATION_RE.fullmatch(raw) if isinstance(raw, str) else None
    if found is None:
        params.error("evaluation_window", "format", 'evaluation_window is a duration in seconds, e.g. "300s"')
        return DEFAULT_WINDOW
    seconds, fraction = int(found[1]), found[2] or ""
    if fraction.strip("0") or not WINDOW_MIN <= seconds <= WINDOW_MAX:
        params.error(
            "evaluation_window",
            "constraint",
            f"evaluation_window must be whole seconds from {WINDOW_MIN}s to {WINDOW_MAX}s",
        )
        return DEFAULT_WINDOW
    return timedelta(seconds=seconds)


def _query(params: Params) -> str | None:
    """The CEL expression, checked exactly as the console's form checks it."""
    query = params.string("query", max_length=QUERY_MAX, required=True)
    if query is None:
        return None
    try:
        compile_expression(query)
    except ExpressionError as exc:
        params.error("query", "constraint", str(exc))
        return None
    return query


def _name(params: Params, *, required: bool) -> str | None:
    """The rule's name, checked exactly as the console's form checks it."""
    name = params.string("name", max_length=NAME_MAX, required=required)
    if name is None:
        return None
    try:
        return check_rule_name(name)
    except RuleNameError as exc:
        params.error("name", "constraint", str(exc))
        return None


def _description(params: Params) -> str | None:
    """None when absent; an empty (or blank) string clears the description."""
    value = params.data.get("description")
    if value is None:
        return None
    description = params.string("description", max_length=DESCRIPTION_MAX)
    if description is None and isinstance(value, str) and not value.strip():
        return ""
    return description


def _occurrences(params: Params) -> int | None:
    if params.data.get("occurrences") is None:
        params.error("occurrences", "required", "occurrences is required")
    return params.integer("occurrences", minimum=1, maximum=OCCURRENCES_MAX)


def _severity(params: Params) -> str:
    return (
        params.enum("severity", SEVERITIES, unknown=UNKNOWN_SEVERITY, default=Severity.INFO) or Severity.INFO
    )


def _name_taken(
    request: ApiRequest, region: str, name: str, *, exclude: CustomAlertRule | None = None
) -> bool:
    qs = selectors.custom_alert_rule_list(organization=request.organization, region=region)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.filter(name__iexact=name).exists()


def _name_taken_error() -> ApiError:
    return invalid_arguments([argument_error("name", "constraint", NAME_TAKEN)])


RULE_NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": NAME_MAX,
    "pattern": SINGLE_LINE_NAME,
    "description": "Unique in the region, whatever its case; one line.",
}
RULE_DESCRIPTION: Schema = {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX, "pattern": NO_NUL}
# Whole seconds from 60 to 86400, with an optional zero fraction (DURATION_RE and the bounds it is
# checked against).
EVALUATION_WINDOW = (
    "^([6-9][0-9]|[1-9][0-9]{2,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)(\\.0{1,9})?s$"
)


CUSTOM_ALERT_RULE_IDS = Body("CustomAlertRuleIdsRequest", [id_list("custom_alert_rule_ids", UNKNOWN_IDS)])


# --- custom rules (§2.9) -----------------------------------------------------------------------


def _custom_rules(request: ApiRequest, region: str) -> QuerySet[CustomAlertRule]:
    return selectors.custom_alert_rule_list(organization=request.organization, region=region)


def _known_custom_ids(request: ApiRequest, region: str, ids: list[str]) -> None:
    """404 for the first id that is not one of this organization's custom rules in `region`."""
    if not ids:
        return
    known = {str(pk) for pk in _custom_rules(request, region).filter(pk__in=ids).values_list("pk", flat=True)}
    for rule_id in ids:
        if rule_id not in known:
            raise not_found("custom_alert_rule", rule_id)


def _custom_rule(request: ApiRequest, region: str, rule_id: str) -> CustomAlertRule:
    rule = None
    try:
        pk = uuid.UUID(rule_id)
    except ValueError:
        pk = None
    if pk is not None:
        rule = selectors.custom_alert_rule_get(organization=request.organization, rule_id=pk)
    if rule is None or rule.region != region:
        raise not_found("custom_alert_rule", rule_id)
    return rule


def _custom_rule_resources(region: str, custom_alert_rule_id: str) -> list[dict[str, Any]]:
    return [{"id": custom_alert_rule_id[:200], "type": CUSTOM_RULE_TYPE}]


@operation(
    "GET",
    "ListCustomAlertRules",
    summary="List the organization's custom alert rules in the region",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=[STATUS_FILTER, *PAGE],
    response=component(
        "ListCustomAlertRulesResponse",
        closed(
            {"custom_alert_rules": array(CUSTOM_ALERT_RULE), "total_count": INTEGER},
            required=["custom_alert_rules", "total_count"],
        ),
    ),
)
def list_custom_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListCustomAlertRules: the organization's custom rules in the region, page-numbered."""
    status = args["status"]
    qs = _custom_rules(request, region)
    if status in ("enabled", "disabled"):
        qs = qs.filter(enabled=status == "enabled")
    elif status is not None:
        qs = qs.none()
    start = (args["page"] - 1) * args["page_size"]
    rules = [custom_alert_rule_json(rule) for rule in qs[start : start + args["page_size"]]]
    return JsonResponse({"custom_alert_rules": rules, "total_count": qs.count()})


def _check_new_name(request: ApiRequest, args: Args, params: Params, region: str) -> None:
    if args["name"] is not None and _name_taken(request, region, args["name"]):
        params.error("name", "constraint", NAME_TAKEN)


@operation(
    "POST",
    "CreateCustomAlertRule",
    summary="Create a custom (CEL) alert rule in the region; it is enabled at once",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=Body(
        "CreateCustomAlertRuleRequest",
        [
            Field.custom("name", RULE_NAME, lambda params: _name(params, required=True)),
            Field.custom("description", RULE_DESCRIPTION, _description),
            Field.custom(
                "query",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": QUERY_MAX,
                    "pattern": f"^[^\\x00]*{NOT_BLANK}[^\\x00]*$",
                    "description": "CEL, checked as the console checks it; a bad one answers invalid_arguments on `query`.",
                    "examples": ['status_code == 403 && product_name == "secret-manager"'],
                },
                _query,
            ),
            Field.custom(
                "occurrences", {"type": "integer", "minimum": 1, "maximum": OCCURRENCES_MAX}, _occurrences
            ),
            Field.custom(
                "evaluation_window",
                {
                    "type": ["string", "null"],
                    "pattern": EVALUATION_WINDOW,
                    "default": duration_json(DEFAULT_WINDOW),
                    "description": f'Whole seconds from {WINDOW_MIN}s to {WINDOW_MAX}s: "300s" or "300.000000000s".',
                },
                _evaluation_window,
            ),
            Field.custom("severity", {**SEVERITY, "default": Severity.INFO}, _severity),
        ],
        required=["name", "query", "occurrences"],
    ),
    validate=_check_new_name,
    response=CUSTOM_ALERT_RULE,
)
def create_custom_alert_rule(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """CreateCustomAlertRule: the rule is active at once, as the console's form creates it."""
    try:
        rule = services.custom_alert_rule_create(
            actor=Actor.from_request(request),
            organization=request.organization,
            region=region,
            name=args["name"],
            description=args["description"] or "",
            query=args["query"],
            occurrences=args["occurrences"],
            evaluation_window=args["evaluation_window"],
            severity=args["severity"],
        )
    except IntegrityError:  # the same name, created in between
        raise _name_taken_error() from None
    return JsonResponse(custom_alert_rule_json(rule))


@operation(
    "PUT",
    "SetEnabledCustomAlertRules",
    summary="Enable exactly these custom rules in the region (the others are disabled)",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=Body(
        "SetEnabledCustomAlertRulesRequest",
        [id_list("enabled_custom_alert_rule_ids", "The complete set of enabled custom rules in the region.")],
    ),
    response=CUSTOM_ALERT_RULES,
)
def set_enabled_custom_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """SetEnabledCustomAlertRules: exactly these custom rules are active afterwards. Answers all."""
    ids = args["enabled_custom_alert_rule_ids"]
    _known_custom_ids(request, region, ids)
    rules = services.custom_alert_rule_set_enabled(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        enabled_custom_alert_rule_ids=ids,
    )
    return JsonResponse({"custom_alert_rules": [custom_alert_rule_json(rule) for rule in rules]})


def _switch_custom_alert_rules(request: ApiRequest, args: Args, region: str, *, enable: bool) -> HttpResponse:
    ids = args["custom_alert_rule_ids"]
    _known_custom_ids(request, region, ids)
    service = services.custom_alert_rule_enable if enable else services.custom_alert_rule_disable
    rules = service(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        custom_alert_rule_ids=ids,
    )
    return JsonResponse({"custom_alert_rules": [custom_alert_rule_json(rule) for rule in rules]})


@operation(
    "POST",
    "EnableCustomAlertRules",
    summary="Enable custom rules in the region",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=CUSTOM_ALERT_RULE_IDS,
    response=CUSTOM_ALERT_RULES,
)
def enable_custom_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """EnableCustomAlertRules: answers the rules that were enabled."""
    return _switch_custom_alert_rules(request, args, region, enable=True)


@operation(
    "POST",
    "DisableCustomAlertRules",
    summary="Disable custom rules in the region",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=CUSTOM_ALERT_RULE_IDS,
    response=CUSTOM_ALERT_RULES,
)
def disable_custom_alert_rules(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """DisableCustomAlertRules: answers the rules that were disabled."""
    return _switch_custom_alert_rules(request, args, region, enable=False)


def _rule_to_update(
    request: ApiRequest, args: Args, params: Params, region: str, custom_alert_rule_id: str
) -> None:
    """The rule (not_found before any invalid argument), and its new name free in the region."""
    rule = args["rule"] = _custom_rule(request, region, custom_alert_rule_id)
    if args["name"] is not None and _name_taken(request, region, args["name"], exclude=rule):
        params.error("name", "constraint", NAME_TAKEN)


@operation(
    "PATCH",
    "UpdateCustomAlertRule",
    summary="Rename or redescribe a custom rule",
    tag=TAG,
    action=WRITE,
    path=[REGION, CUSTOM_RULE_ID],
    resources=_custom_rule_resources,
    body=Body(
        "UpdateCustomAlertRuleRequest",
        [
            Field.custom(
                "name",
                {**RULE_NAME, "type": ["string", "null"]},
                lambda params: _name(params, required=False),
            ),
            Field.custom(
                "description", {**RULE_DESCRIPTION, "description": "An empty string clears it."}, _description
            ),
        ],
        extra={"description": "Only the metadata is updatable."},
    ),
    validate=_rule_to_update,
    response=CUSTOM_ALERT_RULE,
)
def update_custom_alert_rule(
    request: ApiRequest, args: Args, region: str, custom_alert_rule_id: str
) -> HttpResponse:
    """UpdateCustomAlertRule: name and description only."""
    try:
        rule = services.custom_alert_rule_update(
            actor=Actor.from_request(request),
            rule=args["rule"],
            name=args["name"],
            description=args["description"],
        )
    except IntegrityError:
        raise _name_taken_error() from None
    return JsonResponse(custom_alert_rule_json(rule))


@operation(
    "DELETE",
    "DeleteCustomAlertRule",
    summary="Delete a custom rule for good (its past alerts stay)",
    tag=TAG,
    action=WRITE,
    path=[REGION, CUSTOM_RULE_ID],
    resources=_custom_rule_resources,
    response=None,
    status=204,
)
def delete_custom_alert_rule(
    request: ApiRequest, args: Args, region: str, custom_alert_rule_id: str
) -> HttpResponse:
    """DeleteCustomAlertRule: 204; the rule's past alerts stay."""
    rule = _custom_rule(request, region, custom_alert_rule_id)
    services.custom_alert_rule_delete(actor=Actor.from_request(request), rule=rule)
    return HttpResponse(status=204)
