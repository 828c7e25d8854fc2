"""Audit Trail v1alpha1 alert-rule endpoints, wire-compatible with Scaleway's (reference §2.8, §2.9).

The console's Alerting Management tab and these endpoints read through `alerts.selectors` and
write through `alerts.services`, so they change the same per-(organization, region) settings
and leave the same audit events (SetEnabledAlertRules, CreateCustomAlertRule, ...).

Preconfigured rules have stable ids: `uuid5(RULE_ID_NAMESPACE, name)` (`alerts.rules`). They are
the same in every organization and region and across releases, so a script may keep them, and
the rule's `name` (Scaleway's "technical identifier") maps to exactly one id. Custom rules have
random UUIDs; one from another organization, or from another region than the path's, is
`not_found`.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpResponse, JsonResponse

from alerts import selectors, services
from alerts.models import CustomAlertRule
from alerts.rules import (
    PRECONFIGURED_BY_ID,
    ExpressionError,
    PreconfiguredRule,
    RuleNameError,
    Severity,
    check_rule_name,
    compile_expression,
)
from api.http import (
    ApiError,
    Params,
    api_view,
    argument_error,
    authorize,
    check_organization,
    invalid_arguments,
    not_found,
    read_json,
)
from audit.services import Actor
from core.regions import REGIONS, is_region
from core.time import iso
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
CUSTOM_RULE_TYPE = "audit_trail_custom_alert_rule"


# --- wire shapes -------------------------------------------------------------------------------


def _status(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def alert_rule_json(rule: PreconfiguredRule, enabled: bool) -> dict[str, Any]:
    """An AlertRule (§3.8)."""
    return {
        "id": str(rule.id),
        "name": rule.name,
        "description": rule.description,
        "status": _status(enabled),
    }


def duration_json(value: timedelta) -> str:
    """ "300s": both SDKs read it (Go's scw.Duration parses any "<float>s")."""
    return f"{int(value.total_seconds())}s"


def custom_alert_rule_json(rule: CustomAlertRule) -> dict[str, Any]:
    """A CustomAlertRule (§3.9); an empty description is null."""
    return {
        "id": str(rule.pk),
        "name": rule.name,
        "description": rule.description or None,
        "status": _status(rule.enabled),
        "query": rule.query,
        "evaluation_window": duration_json(rule.evaluation_window),
        "occurrences": rule.occurrences,
        "severity": rule.severity,
        "created_at": iso(rule.created_at),
        "updated_at": iso(rule.updated_at),
    }


# --- parsing -----------------------------------------------------------------------------------


def _region(region: str) -> None:
    if not is_region(region):
        raise invalid_arguments(
            [argument_error("region", "constraint", f"region must be one of: {', '.join(REGIONS)}")]
        )


def _body(request: ApiRequest) -> Params:
    body = read_json(request)
    if not isinstance(body, dict):
        raise invalid_arguments([argument_error("body", "format", "the body must be a JSON object")])
    return Params(body)


def _prepare(
    request: ApiRequest,
    region: str,
    action: str,
    method: str,
    params: Params | None = None,
    resources: list[dict[str, Any]] | None = None,
) -> Params:
    """Region, organization_id and permission: the checks every endpoint makes, in this order."""
    _region(region)
    params = params if params is not None else Params(request.GET)
    check_organization(request, params, action=action, method=method, locality=region)
    authorize(request, action, method=method, locality=region, resources=resources)
    return params


def _paging(params: Params) -> tuple[int, int]:
    page = params.integer("page", minimum=1, maximum=2**31 - 1) or 1
    page_size = params.integer("page_size", minimum=1, maximum=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    return page, page_size


def _ids(params: Params, name: str) -> list[str]:
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


def _name_taken(
    request: ApiRequest, region: str, name: str, *, exclude: CustomAlertRule | None = None
) -> bool:
    qs = selectors.custom_alert_rule_list(organization=request.organization, region=region)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.filter(name__iexact=name).exists()


def _name_taken_error() -> ApiError:
    return invalid_arguments([argument_error("name", "constraint", NAME_TAKEN)])


# --- preconfigured rules (§2.8) ----------------------------------------------------------------


def _preconfigured(ids: list[str]) -> list[PreconfiguredRule]:
    for rule_id in ids:
        if rule_id not in PRECONFIGURED_BY_ID:
            raise not_found("alert_rule", rule_id)
    return [PRECONFIGURED_BY_ID[rule_id] for rule_id in ids]


@api_view("GET", "PATCH")
def alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """ListAlertRules (GET) and SetEnabledAlertRules (PATCH)."""
    if request.method == "PATCH":
        return set_enabled_alert_rules(request, region)
    params = _prepare(request, region, READ, "ListAlertRules")
    status = params.enum("status", STATUSES, unknown=UNKNOWN_STATUS)
    page, page_size = _paging(params)
    params.check()
    states = selectors.alert_rule_states(organization=request.organization, region=region)
    rules = [alert_rule_json(s.rule, s.active) for s in states]
    if status is not None:
        rules = [r for r in rules if r["status"] == status]
    start = (page - 1) * page_size
    return JsonResponse({"alert_rules": rules[start : start + page_size], "total_count": len(rules)})


def set_enabled_alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """SetEnabledAlertRules: exactly these rules are active afterwards. Answers all five."""
    params = _prepare(request, region, WRITE, "SetEnabledAlertRules", _body(request))
    ids = _ids(params, "enabled_alert_rule_ids")
    params.check()
    rules = _preconfigured(ids)
    states = services.alert_rule_set_enabled(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        enabled_alert_rule_ids=[rule.id for rule in rules],
    )
    return JsonResponse({"alert_rules": [alert_rule_json(rule, enabled) for rule, enabled in states]})


def _switch_alert_rules(request: ApiRequest, region: str, *, enable: bool) -> HttpResponse:
    method = "EnableAlertRules" if enable else "DisableAlertRules"
    params = _prepare(request, region, WRITE, method, _body(request))
    ids = _ids(params, "alert_rule_ids")
    params.check()
    rules = _preconfigured(ids)
    service = services.alert_rule_enable if enable else services.alert_rule_disable
    done = service(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        alert_rule_ids=[rule.id for rule in rules],
    )
    return JsonResponse({"alert_rules": [alert_rule_json(rule, enable) for rule in done]})


@api_view("POST")
def enable_alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """EnableAlertRules: answers the rules that were enabled."""
    return _switch_alert_rules(request, region, enable=True)


@api_view("POST")
def disable_alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """DisableAlertRules: answers the rules that were disabled."""
    return _switch_alert_rules(request, region, enable=False)


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


@api_view("GET", "POST", "PUT")
def custom_alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """ListCustomAlertRules (GET), CreateCustomAlertRule (POST), SetEnabledCustomAlertRules (PUT)."""
    if request.method == "POST":
        return create_custom_alert_rule(request, region)
    if request.method == "PUT":
        return set_enabled_custom_alert_rules(request, region)
    params = _prepare(request, region, READ, "ListCustomAlertRules")
    status = params.enum("status", STATUSES, unknown=UNKNOWN_STATUS)
    page, page_size = _paging(params)
    params.check()
    qs = _custom_rules(request, region)
    if status in ("enabled", "disabled"):
        qs = qs.filter(enabled=status == "enabled")
    elif status is not None:
        qs = qs.none()
    start = (page - 1) * page_size
    rules = [custom_alert_rule_json(rule) for rule in qs[start : start + page_size]]
    return JsonResponse({"custom_alert_rules": rules, "total_count": qs.count()})


def create_custom_alert_rule(request: ApiRequest, region: str) -> HttpResponse:
    """CreateCustomAlertRule: the rule is active at once, as the console's form creates it."""
    params = _prepare(request, region, WRITE, "CreateCustomAlertRule", _body(request))
    name = _name(params, required=True)
    description = _description(params) or ""
    query = _query(params)
    if params.data.get("occurrences") is None:
        params.error("occurrences", "required", "occurrences is required")
    occurrences = params.integer("occurrences", minimum=1, maximum=OCCURRENCES_MAX)
    window = _evaluation_window(params)
    severity = (
        params.enum("severity", SEVERITIES, unknown=UNKNOWN_SEVERITY, default=Severity.INFO) or Severity.INFO
    )
    if name is not None and _name_taken(request, region, name):
        params.error("name", "constraint", NAME_TAKEN)
    params.check()
    assert name is not None and query is not None and occurrences is not None  # check() passed
    try:
        rule = services.custom_alert_rule_create(
            actor=Actor.from_request(request),
            organization=request.organization,
            region=region,
            name=name,
            description=description,
            query=query,
            occurrences=occurrences,
            evaluation_window=window,
            severity=severity,
        )
    except IntegrityError:  # the same name, created in between
        raise _name_taken_error() from None
    return JsonResponse(custom_alert_rule_json(rule))


def set_enabled_custom_alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """SetEnabledCustomAlertRules: exactly these custom rules are active afterwards. Answers all."""
    params = _prepare(request, region, WRITE, "SetEnabledCustomAlertRules", _body(request))
    ids = _ids(params, "enabled_custom_alert_rule_ids")
    params.check()
    _known_custom_ids(request, region, ids)
    rules = services.custom_alert_rule_set_enabled(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        enabled_custom_alert_rule_ids=ids,
    )
    return JsonResponse({"custom_alert_rules": [custom_alert_rule_json(rule) for rule in rules]})


def _switch_custom_alert_rules(request: ApiRequest, region: str, *, enable: bool) -> HttpResponse:
    method = "EnableCustomAlertRules" if enable else "DisableCustomAlertRules"
    params = _prepare(request, region, WRITE, method, _body(request))
    ids = _ids(params, "custom_alert_rule_ids")
    params.check()
    _known_custom_ids(request, region, ids)
    service = services.custom_alert_rule_enable if enable else services.custom_alert_rule_disable
    rules = service(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        custom_alert_rule_ids=ids,
    )
    return JsonResponse({"custom_alert_rules": [custom_alert_rule_json(rule) for rule in rules]})


@api_view("POST")
def enable_custom_alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """EnableCustomAlertRules: answers the rules that were enabled."""
    return _switch_custom_alert_rules(request, region, enable=True)


@api_view("POST")
def disable_custom_alert_rules(request: ApiRequest, region: str) -> HttpResponse:
    """DisableCustomAlertRules: answers the rules that were disabled."""
    return _switch_custom_alert_rules(request, region, enable=False)


@api_view("PATCH", "DELETE")
def custom_alert_rule_detail(request: ApiRequest, region: str, custom_alert_rule_id: str) -> HttpResponse:
    """UpdateCustomAlertRule (PATCH: name and description only) and DeleteCustomAlertRule."""
    resources = [{"id": custom_alert_rule_id[:200], "type": CUSTOM_RULE_TYPE}]
    if request.method == "DELETE":
        _prepare(request, region, WRITE, "DeleteCustomAlertRule", resources=resources).check()
        rule = _custom_rule(request, region, custom_alert_rule_id)
        services.custom_alert_rule_delete(actor=Actor.from_request(request), rule=rule)
        return HttpResponse(status=204)
    params = _prepare(request, region, WRITE, "UpdateCustomAlertRule", _body(request), resources)
    rule = _custom_rule(request, region, custom_alert_rule_id)
    name = _name(params, required=False)
    description = _description(params)
    if name is not None and _name_taken(request, region, name, exclude=rule):
        params.error("name", "constraint", NAME_TAKEN)
    params.check()
    try:
        rule = services.custom_alert_rule_update(
            actor=Actor.from_request(request), rule=rule, name=name, description=description
        )
    except IntegrityError:
        raise _name_taken_error() from None
    return JsonResponse(custom_alert_rule_json(rule))
