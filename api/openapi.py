"""The OpenAPI 3.1 document of the whole API, served at /x/openapi.json.

Written by hand from the same constants the views use (order-by values, page sizes, batch
limits), so the document and the code cannot drift far; a test fuzzes the API from it with
schemathesis's conformance checks, so every request the document allows is accepted and every
request it forbids is refused.

The clients' quirks (reference §1, §6.3) are part of the contract: an empty query value means
"no filter" (`allowEmptyValue`), Go's `unknown_*` enum defaults are listed, booleans are read as
Go's strconv.ParseBool reads them, and optional body fields may be `null`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from api import audit_trail as api
from api.audit_trail import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ORDER_BY
from api.http import DATETIME_MAX_LENGTH, FALSE, TRUE, UUID_RE
from api.iam import (
    ACCESS_KEY_LENGTH,
    API_KEY_ORDER,
    BEARER_TYPES,
    DESCRIPTION_MAX,
    LOG_ORDER,
    MAX_ACCESS_KEYS,
)
from api.iam import SEARCH_MAX as IAM_SEARCH_MAX
from audit import ingest
from core.regions import LOCALITY_RE, REGIONS
from iam.logs import LOG_ACTIONS, LOG_RESOURCE_TYPES

UUID = {"type": "string", "format": "uuid", "pattern": UUID_RE.pattern}
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
# What the API reads as a timestamp: RFC 3339 (the API also takes Python's space-separated
# spelling and a missing offset, which means UTC).
TIMESTAMP_INPUT = {
    "type": "string",
    "format": "date-time",
    "maxLength": DATETIME_MAX_LENGTH,
    "description": "RFC 3339, e.g. 2026-01-31T09:30:00Z; offsets up to ±23:59.",
}
# Go's strconv.ParseBool spellings, which Scaleway's gateway reads (Python's SDK sends `True`).
BOOLEAN_INPUT = {"enum": [True, False, *sorted(TRUE), *sorted(FALSE)]}
ABSENT = {"enum": ["", None]}  # in a JSON body: the same as leaving the field out
# Text the database can store: PostgreSQL refuses NUL characters.
NO_NUL = "^[^\\x00]*$"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (api.http.CONTROL_RE).
_CONTROLS = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
# Characters Python's str.strip() removes, beyond the controls: a name needs one that is neither.
_SPACES = "\\x20\\xa0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000"
SINGLE_LINE_NAME = f"^[^{_CONTROLS}]*[^{_CONTROLS}{_SPACES}][^{_CONTROLS}]*$"
NOT_BLANK = f"[^\\x00{_SPACES}\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f\\x85\\u2028\\u2029]"


ACCESS_KEY_PATTERN = "^[Ss][Cc][Ww][A-Za-z0-9]{17}$"  # api.iam.ACCESS_KEY_RE: any case
ACCESS_KEY_PATH = {"type": "string", "maxLength": ACCESS_KEY_LENGTH}


def text(max_length: int, **extra: Any) -> dict[str, Any]:
    """A free string: at most `max_length` characters, without NUL."""
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL, **extra}


def optional(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON body field that may also be null (and, for ids and timestamps, empty)."""
    return {"anyOf": [schema, ABSENT]}


_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_H16 = "[0-9a-fA-F]{1,4}"
_IPV6 = "|".join(
    [
        f"({_H16}:){{7}}{_H16}",
        f"({_H16}:){{1,7}}:",
        f"({_H16}:){{1,6}}:{_H16}",
        *(f"({_H16}:){{1,{n}}}(:{_H16}){{1,{7 - n}}}" for n in range(5, 0, -1)),
        f":((:{_H16}){{1,7}}|:)",
    ]
)
SOURCE_IP = {
    "type": "string",
    "anyOf": [
        {"format": "ipv4"},
        {"format": "ipv6"},
        {"pattern": f"^({_OCTET}\\.){{3}}{_OCTET}/([0-9]|[12][0-9]|3[0-2])$"},
        {"pattern": f"^({_IPV6})/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"},
    ],
    "maxLength": api.SOURCE_IP_MAX,
    "examples": ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"],
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """An optional query parameter; empty, it is absent (Go clients send `organization_id=`)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "schema": schema,
        "description": description,
    }


def path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def json_response(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": json_response(ref("Error"), "invalid_arguments, with one detail per bad argument"),
    "401": json_response(ref("Error"), "denied_authentication: missing, unknown or expired key"),
    "403": json_response(ref("Error"), "permissions_denied (recorded in the trail as a 403 event)"),
    "429": {
        **json_response(ref("Error"), "too_many_requests"),
        "headers": {
            "Retry-After": {
                "description": "Seconds until the window resets.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
}


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    response: dict[str, Any],
    parameters: list[dict[str, Any]],
    *,
    extra: dict[str, Any] | None = None,
    status: str = "200",
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": parameters,
        "responses": {status: response, **ERRORS, "404": json_response(ref("Error"), "not_found")},
        **(extra or {}),
    }


ORGANIZATION = query("organization_id", UUID, "Defaults to the API key's organization; another is refused.")
BODY_ORGANIZATION = {
    **optional(UUID),
    "description": "Defaults to the API key's organization; another is refused.",
}
REGION = path_param("region", {"type": "string", "pattern": "^[a-z]{2}-[a-z]{3}$", "examples": ["fr-par"]})
WINDOW = [
    query("recorded_after", TIMESTAMP_INPUT, "Default: one hour before recorded_before."),
    query("recorded_before", TIMESTAMP_INPUT, "Default: now."),
    query("order_by", {"type": "string", "enum": list(ORDER_BY), "default": "recorded_at_desc"}),
    query(
        "page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}
    ),
    query(
        "page_token",
        {"type": "string", "maxLength": api.PAGE_TOKEN_MAX, "pattern": "^[A-Za-z0-9_-]*$"},
        "A previous answer's next_page_token, with the same filters; any other token is refused.",
    ),
]
PAGE = [
    query("page", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, "default": 1}),
    query("page_size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
]
RESOURCE_TYPE = {"type": "string", "pattern": ingest.RESOURCE_TYPE_RE.pattern, "examples": ["iam_api_key"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["message", "type"],
        "properties": {
            "message": {"type": "string"},
            "type": {
                "type": "string",
                "examples": [
                    "invalid_arguments",
                    "not_found",
                    "permissions_denied",
                    "denied_authentication",
                    "too_many_requests",
                ],
            },
            "details": {"type": "array", "items": {"type": "object"}},
            "resource": {"type": "string"},
            "resource_id": {"type": "string"},
            "method": {"type": "string"},
            "reason": {"type": "string"},
            "retry_after": {"type": "integer"},
        },
    },
    "Resource": {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 200},
            "type": RESOURCE_TYPE,
            "name": {"type": ["string", "null"]},
            "action": {"type": ["string", "null"]},
            "created_at": NULLABLE_TIMESTAMP,
            "updated_at": NULLABLE_TIMESTAMP,
            "deleted_at": NULLABLE_TIMESTAMP,
        },
        "patternProperties": {"^[a-z][a-z0-9_]*_info$": {"type": "object"}},
        "description": "At most one `<x>_info` object, chosen by type (reference §3.3).",
    },
    "Event": {
        "type": "object",
        "required": ["id", "recorded_at", "locality", "organization_id", "product_name", "status_code"],
        "properties": {
            "id": UUID,
            "recorded_at": TIMESTAMP,
            "locality": {"type": "string", "examples": ["fr-par", "fr-par-2", "global"]},
            "principal": {"type": "object", "properties": {"id": UUID}, "required": ["id"]},
            "organization_id": UUID,
            "project_id": UUID,
            "source_ip": {"type": "string"},
            "user_agent": {"type": "string"},
            "product_name": {"type": "string"},
            "service_name": {"type": "string"},
            "method_name": {"type": "string"},
            "resources": {"type": "array", "items": ref("Resource")},
            "request_id": {"type": "string"},
            "request_body": {"type": "object"},
            "status_code": {"type": "integer"},
        },
    },
    "AuthenticationEvent": {
        "type": "object",
        "required": ["id", "recorded_at", "organization_id", "result", "method", "origin"],
        "properties": {
            "id": UUID,
            "recorded_at": TIMESTAMP,
            "organization_id": UUID,
            "source_ip": {"type": "string"},
            "user_agent": {"type": "string"},
            "resources": {"type": "array", "items": ref("Resource")},
            "result": {"type": "string", "enum": ["unknown_result", "success", "failure"]},
            "failure_reason": {
                "type": "string",
                "enum": ["unknown_failure_reason", "invalid_mfa", "invalid_password"],
            },
            "method": {
                "type": "string",
                "enum": ["unknown_method", "password", "authentication_code", "oauth2", "saml"],
            },
            "origin": {"type": "string", "enum": ["unknown_origin", "public_api", "admin_api"]},
            "mfa_type": {"type": "string", "enum": ["unknown_mfa_type", "totp"]},
        },
    },
    "ListEventsResponse": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "items": ref("Event")},
            "next_page_token": {"type": "string", "description": "Absent on the last page."},
        },
    },
    "ListAuthenticationEventsResponse": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "items": ref("AuthenticationEvent")},
            "next_page_token": {"type": "string"},
        },
    },
    "ListCombinedEventsResponse": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "oneOf": [
                        {"required": ["api"], "properties": {"api": ref("Event")}},
                        {"required": ["auth"], "properties": {"auth": ref("AuthenticationEvent")}},
                    ],
                },
            },
            "next_page_token": {"type": "string"},
        },
    },
    "ListProductsResponse": {
        "type": "object",
        "required": ["products", "total_count"],
        "properties": {
            "products": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["title", "name", "services"],
                    "properties": {
                        "title": {"type": "string"},
                        "name": {"type": "string"},
                        "services": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "methods": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            },
            "total_count": {"type": "integer"},
        },
    },
    "Log": {
        "type": "object",
        "required": ["id", "created_at", "action", "organization_id", "resource_type", "resource_id"],
        "properties": {
            "id": UUID,
            "created_at": TIMESTAMP,
            "ip": {"type": "string"},
            "user_agent": {"type": "string"},
            "action": {"type": "string", "enum": ["unknown_action", *LOG_ACTIONS]},
            "bearer_id": {"type": "string"},
            "organization_id": UUID,
            "resource_type": {"type": "string", "enum": ["unknown_resource_type", *LOG_RESOURCE_TYPES]},
            "resource_id": {"type": "string"},
        },
    },
    "ListLogsResponse": {
        "type": "object",
        "required": ["logs", "total_count"],
        "properties": {"logs": {"type": "array", "items": ref("Log")}, "total_count": {"type": "integer"}},
    },
    "APIKey": {
        "type": "object",
        "required": ["access_key", "created_at", "editable", "deletable", "managed"],
        "properties": {
            "access_key": {"type": "string", "pattern": "^SCW[A-Z0-9]{17}$"},
            "secret_key": {
                "type": "string",
                "format": "uuid",
                "description": "Only in CreateAPIKey's answer.",
            },
            "description": {"type": "string"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "expires_at": NULLABLE_TIMESTAMP,
            "default_project_id": {"type": ["string", "null"], "format": "uuid"},
            "editable": {"type": "boolean"},
            "deletable": {"type": "boolean"},
            "managed": {"type": "boolean"},
            "creation_ip": {"type": "string"},
            "user_id": UUID,
            "application_id": UUID,
        },
    },
    "ListAPIKeysResponse": {
        "type": "object",
        "required": ["api_keys", "total_count"],
        "properties": {
            "api_keys": {"type": "array", "items": ref("APIKey")},
            "total_count": {"type": "integer"},
        },
    },
    "CreateAPIKeyRequest": {
        "type": "object",
        "description": "Exactly one of user_id and application_id.",
        "properties": {
            "user_id": optional(UUID),
            "application_id": optional(UUID),
            "description": {**text(DESCRIPTION_MAX), "type": ["string", "null"]},
            "expires_at": {**optional(TIMESTAMP_INPUT), "description": "In the future."},
            "default_project_id": optional(UUID),
        },
        "oneOf": [
            {"required": ["user_id"], "properties": {"user_id": UUID}},
            {"required": ["application_id"], "properties": {"application_id": UUID}},
        ],
    },
    # What ingestion stores (audit.ingest): strings without NUL (PostgreSQL refuses it), integers
    # within 64 bits, and null wherever a field may be left out.
    "IngestJSON": {
        "anyOf": [
            {"type": ["null", "boolean"]},
            {"type": "number", "not": {"type": "integer"}},
            {"type": "integer", "minimum": ingest.MIN_INT, "maximum": ingest.MAX_INT},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": ref("IngestJSON")},
            {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": ref("IngestJSON"),
            },
        ],
    },
    "IngestResource": {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": text(200, minLength=1),
            "type": RESOURCE_TYPE,
            "name": {"type": ["string", "null"], "pattern": NO_NUL},
            "action": {"type": ["string", "null"], "pattern": NO_NUL},
            "created_at": {**NULLABLE_TIMESTAMP, "maxLength": 64},
            "updated_at": {**NULLABLE_TIMESTAMP, "maxLength": 64},
            "deleted_at": {**NULLABLE_TIMESTAMP, "maxLength": 64},
        },
        "patternProperties": {
            ingest.INFO_KEY_RE.pattern: {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": ref("IngestJSON"),
            }
        },
        "additionalProperties": False,
        "description": "At most one `<x>_info` object, chosen by type (reference §3.3).",
    },
    "IngestEvent": {
        "type": "object",
        "additionalProperties": False,
        "required": list(ingest.REQUIRED_FIELDS),
        "properties": {
            "id": {
                **UUID,
                "description": "The idempotency key: an id the organization already holds is skipped.",
            },
            "recorded_at": {
                **TIMESTAMP,
                "maxLength": 64,
                "description": "With an offset; from 1970-01-01T00:00:00Z to 5 minutes ahead.",
            },
            "locality": {"type": "string", "pattern": LOCALITY_RE.pattern},
            "principal": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "required": ["id"],
                "properties": {
                    "id": UUID,
                    "type": {"enum": ["user", "application", None]},
                    "name": {**text(200), "type": ["string", "null"]},
                },
            },
            "organization_id": {
                "anyOf": [UUID, {"type": "null"}],
                "description": "Must be the API key's organization.",
            },
            "project_id": {
                "anyOf": [UUID, {"type": "null"}],
                "description": "A project of the organization.",
            },
            "source_ip": {
                "anyOf": [{"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}, ABSENT],
                "maxLength": api.SOURCE_IP_MAX,
            },
            "user_agent": {**text(512), "type": ["string", "null"]},
            "product_name": {"type": "string", "pattern": ingest.PRODUCT_RE.pattern},
            "service_name": {
                "type": "string",
                "pattern": ingest.SERVICE_RE.pattern,
                "maxLength": ingest.MAX_SERVICE_NAME,
            },
            "method_name": {"type": "string", "pattern": ingest.METHOD_RE.pattern},
            "resources": {
                "type": ["array", "null"],
                "maxItems": ingest.MAX_RESOURCES,
                "items": ref("IngestResource"),
            },
            "request_id": {**text(64), "type": ["string", "null"]},
            "request_body": {
                "type": ["object", "null"],
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": ref("IngestJSON"),
                "description": (
                    "Secret-looking keys are stored REDACTED. At most "
                    f"{ingest.MAX_JSON_DEPTH} levels deep and {ingest.MAX_REQUEST_BODY_BYTES} bytes."
                ),
            },
            "status_code": {"type": "integer", "minimum": 100, "maximum": 599},
        },
    },
    "IngestRequest": {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": ingest.MAX_BATCH,
                "items": ref("IngestEvent"),
            }
        },
    },
    "IngestResponse": {
        "type": "object",
        "required": ["received", "created", "duplicates"],
        "properties": {
            "received": {"type": "integer"},
            "created": {"type": "integer"},
            "duplicates": {"type": "integer", "description": "Events whose id was already stored."},
        },
    },
}


# --- alert rules (reference §2.8, §2.9) ----------------------------------------------------------
# Scaleway's enums (reference §4), written out: audit does not import alerts (DESIGN §3).
RULE_STATUS = {"type": "string", "enum": ["unknown_status", "enabled", "disabled", "enabling", "disabling"]}
SEVERITY = {"type": "string", "enum": ["unknown_severity", "info", "warning", "error", "critical"]}
ALERT_REGION = path_param("region", {"type": "string", "enum": list(REGIONS)})
MAX_RULE_IDS = 1000
RULE_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 100,
    "pattern": SINGLE_LINE_NAME,
    "description": "Unique in the region, whatever its case; one line.",
}
RULE_DESCRIPTION = {"type": ["string", "null"], "maxLength": 500, "pattern": NO_NUL}
# Whole seconds from 60 to 86400, with an optional zero fraction (api.alerts.DURATION_RE and the
# bounds it is checked against).
EVALUATION_WINDOW = (
    "^([6-9][0-9]|[1-9][0-9]{2,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)(\\.0{1,9})?s$"
)


def _ids(description: str) -> dict[str, Any]:
    return {"type": ["array", "null"], "maxItems": MAX_RULE_IDS, "items": UUID, "description": description}


def _with_organization(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"organization_id": BODY_ORGANIZATION, **properties}}


SCHEMAS.update(
    {
        "AlertRule": {
            "type": "object",
            "required": ["id", "name", "description", "status"],
            "properties": {
                "id": {**UUID, "description": "Stable: the same for every organization and region."},
                "name": {"type": "string", "examples": ["ApiKeyCreated"]},
                "description": {"type": "string"},
                "status": RULE_STATUS,
            },
        },
        "ListAlertRulesResponse": {
            "type": "object",
            "required": ["alert_rules", "total_count"],
            "properties": {
                "alert_rules": {"type": "array", "items": ref("AlertRule")},
                "total_count": {"type": "integer"},
            },
        },
        "AlertRulesResponse": {
            "type": "object",
            "required": ["alert_rules"],
            "properties": {"alert_rules": {"type": "array", "items": ref("AlertRule")}},
        },
        "AlertRuleIdsRequest": _with_organization(
            {"alert_rule_ids": _ids("Unknown ids answer not_found and change nothing.")}
        ),
        "SetEnabledAlertRulesRequest": _with_organization(
            {"enabled_alert_rule_ids": _ids("The complete set of enabled rules; the others are disabled.")}
        ),
        "CustomAlertRule": {
            "type": "object",
            "required": ["id", "name", "status", "query", "occurrences", "severity"],
            "properties": {
                "id": UUID,
                "name": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "status": RULE_STATUS,
                "query": {"type": "string", "description": "A CEL expression over the event's fields."},
                "evaluation_window": {"type": "string", "pattern": "^[0-9]+s$", "examples": ["300s"]},
                "occurrences": {"type": "integer"},
                "severity": SEVERITY,
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
            },
        },
        "ListCustomAlertRulesResponse": {
            "type": "object",
            "required": ["custom_alert_rules", "total_count"],
            "properties": {
                "custom_alert_rules": {"type": "array", "items": ref("CustomAlertRule")},
                "total_count": {"type": "integer"},
            },
        },
        "CustomAlertRulesResponse": {
            "type": "object",
            "required": ["custom_alert_rules"],
            "properties": {"custom_alert_rules": {"type": "array", "items": ref("CustomAlertRule")}},
        },
        "CreateCustomAlertRuleRequest": {
            "type": "object",
            "required": ["name", "query", "occurrences"],
            "properties": {
                "organization_id": BODY_ORGANIZATION,
                "name": RULE_NAME,
                "description": RULE_DESCRIPTION,
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 4000,
                    "pattern": f"^[^\\x00]*{NOT_BLANK}[^\\x00]*$",
                    "description": "CEL, checked as the console checks it; a bad one answers invalid_arguments on `query`.",
                    "examples": ['status_code == 403 && product_name == "secret-manager"'],
                },
                "occurrences": {"type": "integer", "minimum": 1, "maximum": 100_000},
                "evaluation_window": {
                    "type": ["string", "null"],
                    "pattern": EVALUATION_WINDOW,
                    "default": "300s",
                    "description": 'Whole seconds from 60s to 86400s: "300s" or "300.000000000s".',
                },
                "severity": {**SEVERITY, "default": "info"},
            },
        },
        "UpdateCustomAlertRuleRequest": {
            "type": "object",
            "description": "Only the metadata is updatable.",
            "properties": {
                "organization_id": BODY_ORGANIZATION,
                "name": {**RULE_NAME, "type": ["string", "null"]},
                "description": {**RULE_DESCRIPTION, "description": "An empty string clears it."},
            },
        },
        "CustomAlertRuleIdsRequest": _with_organization(
            {"custom_alert_rule_ids": _ids("Unknown ids answer not_found and change nothing.")}
        ),
        "SetEnabledCustomAlertRulesRequest": _with_organization(
            {"enabled_custom_alert_rule_ids": _ids("The complete set of enabled custom rules in the region.")}
        ),
    }
)


def _body(schema: str, *, required: bool = False) -> dict[str, Any]:
    """A JSON body. Optional unless it has required fields: like Scaleway's gateway, the API reads
    a missing body as `{}`."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": ref(schema)}}}}


def alert_rule_paths(audit: str) -> dict[str, Any]:
    """The alert-rule operations (reference §2.8, §2.9): reads need audit_trail:read, writes
    audit_trail:write; each write is recorded in the trail."""
    tag = "Audit Trail"
    status = query("status", RULE_STATUS, "`unknown_status` or empty: no filter.")
    custom_id = path_param("custom_alert_rule_id", UUID)
    return {
        f"{audit}/alert-rules": {
            "get": operation(
                "ListAlertRules",
                "List the preconfigured alert rules and whether each is enabled in the region",
                tag,
                json_response(ref("ListAlertRulesResponse")),
                [ALERT_REGION, ORGANIZATION, status, *PAGE],
            ),
            "patch": operation(
                "SetEnabledAlertRules",
                "Enable exactly these preconfigured rules in the region (the others are disabled)",
                tag,
                json_response(ref("AlertRulesResponse")),
                [ALERT_REGION],
                extra=_body("SetEnabledAlertRulesRequest"),
            ),
        },
        f"{audit}/enable-alert-rules": {
            "post": operation(
                "EnableAlertRules",
                "Enable preconfigured rules in the region",
                tag,
                json_response(ref("AlertRulesResponse")),
                [ALERT_REGION],
                extra=_body("AlertRuleIdsRequest"),
            )
        },
        f"{audit}/disable-alert-rules": {
            "post": operation(
                "DisableAlertRules",
                "Disable preconfigured rules in the region",
                tag,
                json_response(ref("AlertRulesResponse")),
                [ALERT_REGION],
                extra=_body("AlertRuleIdsRequest"),
            )
        },
        f"{audit}/custom-alert-rules": {
            "get": operation(
                "ListCustomAlertRules",
                "List the organization's custom alert rules in the region",
                tag,
                json_response(ref("ListCustomAlertRulesResponse")),
                [ALERT_REGION, ORGANIZATION, status, *PAGE],
            ),
            "post": operation(
                "CreateCustomAlertRule",
                "Create a custom (CEL) alert rule in the region; it is enabled at once",
                tag,
                json_response(ref("CustomAlertRule")),
                [ALERT_REGION],
                extra=_body("CreateCustomAlertRuleRequest", required=True),
            ),
            "put": operation(
                "SetEnabledCustomAlertRules",
                "Enable exactly these custom rules in the region (the others are disabled)",
                tag,
                json_response(ref("CustomAlertRulesResponse")),
                [ALERT_REGION],
                extra=_body("SetEnabledCustomAlertRulesRequest"),
            ),
        },
        f"{audit}/custom-alert-rules/{{custom_alert_rule_id}}": {
            "patch": operation(
                "UpdateCustomAlertRule",
                "Rename or redescribe a custom rule",
                tag,
                json_response(ref("CustomAlertRule")),
                [ALERT_REGION, custom_id],
                extra=_body("UpdateCustomAlertRuleRequest"),
            ),
            "delete": operation(
                "DeleteCustomAlertRule",
                "Delete a custom rule for good (its past alerts stay)",
                tag,
                {"description": "Deleted"},
                [ALERT_REGION, custom_id, ORGANIZATION],
                status="204",
            ),
        },
        f"{audit}/enable-custom-alert-rules": {
            "post": operation(
                "EnableCustomAlertRules",
                "Enable custom rules in the region",
                tag,
                json_response(ref("CustomAlertRulesResponse")),
                [ALERT_REGION],
                extra=_body("CustomAlertRuleIdsRequest"),
            )
        },
        f"{audit}/disable-custom-alert-rules": {
            "post": operation(
                "DisableCustomAlertRules",
                "Disable custom rules in the region",
                tag,
                json_response(ref("CustomAlertRulesResponse")),
                [ALERT_REGION],
                extra=_body("CustomAlertRuleIdsRequest"),
            )
        },
    }


def document() -> dict[str, Any]:
    audit = "/audit-trail/v1alpha1/regions/{region}"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Audit Trail API",
            "version": "v1alpha1",
            "description": (
                "Wire-compatible with Scaleway's Audit Trail v1alpha1 and IAM v1alpha1 (logs, API "
                "keys): point the official SDKs at this server with `api_url`. Authenticate with "
                "`X-Auth-Token: <secret key>`. Errors are JSON `{message, type, ...}`. Our "
                "extensions live under `/x/`."
            ),
        },
        "security": [{"XAuthToken": []}],
        "tags": [{"name": "Audit Trail"}, {"name": "IAM"}, {"name": "Ingestion (extension)"}],
        "paths": {
            f"{audit}/events": {
                "get": operation(
                    "ListEvents",
                    "List the organization's events in a region, keyset-paged",
                    "Audit Trail",
                    json_response(ref("ListEventsResponse")),
                    [
                        REGION,
                        ORGANIZATION,
                        query("project_id", UUID),
                        query("resource_type", RESOURCE_TYPE, "`unknown_type` or empty: no filter."),
                        query("method_name", text(api.METHOD_MAX)),
                        query(
                            "status",
                            {"type": "integer", "minimum": 0, "maximum": api.STATUS_MAX},
                            "0: no filter.",
                        ),
                        *WINDOW,
                        query("product_name", text(api.PRODUCT_MAX)),
                        query("service_name", text(api.SERVICE_MAX)),
                        query("resource_id", text(api.RESOURCE_ID_MAX)),
                        query("principal_id", UUID),
                        query("source_ip", SOURCE_IP, "An IP address or a CIDR network."),
                    ],
                )
            },
            f"{audit}/products": {
                "get": operation(
                    "ListProducts",
                    "List the products, services and methods present in the organization's events",
                    "Audit Trail",
                    json_response(ref("ListProductsResponse")),
                    [REGION, ORGANIZATION],
                )
            },
            f"{audit}/authentication-events": {
                "get": operation(
                    "ListAuthenticationEvents",
                    "List console sign-ins (global: listed under fr-par)",
                    "Audit Trail",
                    json_response(ref("ListAuthenticationEventsResponse")),
                    [REGION, ORGANIZATION, *WINDOW],
                )
            },
            f"{audit}/combined-events": {
                "get": operation(
                    "ListCombinedEvents",
                    "List API-call and sign-in events merged by time",
                    "Audit Trail",
                    json_response(ref("ListCombinedEventsResponse")),
                    [
                        REGION,
                        ORGANIZATION,
                        query("project_id", UUID),
                        query("resource_type", RESOURCE_TYPE),
                        *WINDOW,
                    ],
                )
            },
            **alert_rule_paths(audit),
            "/iam/v1alpha1/logs": {
                "get": operation(
                    "ListLogs",
                    "List IAM logs (changes to API keys, users, applications, groups, policies)",
                    "IAM",
                    json_response(ref("ListLogsResponse")),
                    [
                        ORGANIZATION,
                        query("order_by", {"type": "string", "enum": list(LOG_ORDER)}),
                        *PAGE,
                        query("created_after", TIMESTAMP_INPUT),
                        query("created_before", TIMESTAMP_INPUT),
                        query("action", {"type": "string", "enum": ["unknown_action", *LOG_ACTIONS]}),
                        query(
                            "resource_type",
                            {"type": "string", "enum": ["unknown_resource_type", *LOG_RESOURCE_TYPES]},
                        ),
                        query("search", text(IAM_SEARCH_MAX), "A bearer id or a resource id."),
                    ],
                )
            },
            "/iam/v1alpha1/logs/{log_id}": {
                "get": operation(
                    "GetLog",
                    "Get one IAM log",
                    "IAM",
                    json_response(ref("Log")),
                    [path_param("log_id", UUID), ORGANIZATION],
                )
            },
            "/iam/v1alpha1/api-keys": {
                "get": operation(
                    "ListAPIKeys",
                    "List the organization's API keys",
                    "IAM",
                    json_response(ref("ListAPIKeysResponse")),
                    [
                        ORGANIZATION,
                        query("order_by", {"type": "string", "enum": list(API_KEY_ORDER)}),
                        *PAGE,
                        query("application_id", UUID),
                        query("user_id", UUID),
                        query("bearer_id", UUID),
                        query(
                            "bearer_type",
                            {"type": "string", "enum": ["unknown_bearer_type", *BEARER_TYPES]},
                        ),
                        query("editable", BOOLEAN_INPUT),
                        query("expired", BOOLEAN_INPUT),
                        query("access_key", text(ACCESS_KEY_LENGTH)),
                        query(
                            "access_keys",
                            {
                                "type": "array",
                                "maxItems": MAX_ACCESS_KEYS,
                                "items": {"type": "string", "pattern": ACCESS_KEY_PATTERN},
                            },
                            "Repeat the parameter for several keys.",
                        ),
                        query("description", text(DESCRIPTION_MAX)),
                    ],
                ),
                "post": operation(
                    "CreateAPIKey",
                    "Create an API key for yourself or an application (audited as CreateAPIKey)",
                    "IAM",
                    json_response(ref("APIKey")),
                    [],
                    extra={
                        "requestBody": {
                            "required": True,
                            "content": {"application/json": {"schema": ref("CreateAPIKeyRequest")}},
                        }
                    },
                ),
            },
            "/iam/v1alpha1/api-keys/{access_key}": {
                "get": operation(
                    "GetAPIKey",
                    "Get one API key (never its secret)",
                    "IAM",
                    json_response(ref("APIKey")),
                    [path_param("access_key", ACCESS_KEY_PATH), ORGANIZATION],
                ),
                "delete": operation(
                    "DeleteAPIKey",
                    "Delete an API key (audited as DeleteAPIKey)",
                    "IAM",
                    {"description": "Deleted"},
                    [path_param("access_key", ACCESS_KEY_PATH), ORGANIZATION],
                    status="204",
                ),
            },
            "/x/audit-trail/v1/events": {
                "post": operation(
                    "IngestEvents",
                    f"Store a batch of up to {ingest.MAX_BATCH} events, all or nothing, idempotent by id",
                    "Ingestion (extension)",
                    json_response(ref("IngestResponse")),
                    [],
                    extra={
                        "description": (
                            "Needs the AuditTrailEventsWriter permission set. The body is "
                            '`{"events": [...]}`, a JSON array, or NDJSON (`application/x-ndjson`, one '
                            "event per line). A batch with any invalid event stores nothing and answers "
                            "invalid_arguments whose details name each bad event as `events[<index>]`."
                        ),
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {"schema": ref("IngestRequest")},
                                "application/x-ndjson": {"schema": {"type": "string"}},
                            },
                        },
                    },
                )
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"XAuthToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
        },
    }


@require_safe
def openapi_document(request: HttpRequest) -> JsonResponse:
    """The document is public: it describes the API, it grants nothing."""
    return JsonResponse(document())
