"""Schemathesis hooks for the conformance run: realistic values where a JSON Schema cannot say what
the API accepts.

The OpenAPI document describes every rule a schema can express, and schemathesis holds the API to
it both ways. Four rules depend on the server's state or on a language the schema cannot describe,
so a request that is "valid" by the schema may rightly be refused with invalid_arguments:

- a `page_token` is opaque: only one the API issued, for the same filters, is valid;
- a custom rule's `query` is a CEL expression (checked as the console checks it);
- a custom rule's `name` is unique in its region;
- a new API key's `expires_at` is in the future.

For positive cases only, these hooks put in a value that satisfies the rule: no page token, a
simple CEL expression, a name not used yet, a date a year ahead. Negative cases are left as
generated: the API must refuse each of them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone
from schemathesis import Case, GenerationMode

RULE_QUERY = 'status_code == 403 && product_name == "secret-manager"'


def _is_positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def _unique_name() -> str:
    return f"schemathesis rule {uuid.uuid4().hex[:12]}"


def map_case(context: Any, case: Case) -> Case:
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
    elif operation == "CreateAPIKey" and body.get("expires_at"):
        body["expires_at"] = (timezone.now() + timedelta(days=365)).isoformat()
    return case


HOOKS = [map_case]
