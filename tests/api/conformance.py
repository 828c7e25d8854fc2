"""Every API answer of the test suite is checked against its declaration (api.declare).

`ResponseConformanceMiddleware` sits outermost in the test settings: for each request routed to
a declared operation, the status must be one the operation declares, and the JSON body must match
the declared schema (answers are closed objects, so a field the declaration lacks fails, and so
does a wrong type or format). A disagreement raises `ResponseDisagrees`: the test client re-raises
it, and under live_server (the official SDK's tests, schemathesis's) it becomes a 500 the client
sees. schemathesis's `response_schema_conformance` checks the same document from outside.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema_rs
from django.http import HttpRequest, HttpResponse

from api.declare import COMPONENTS, Operation, operations_of


class ResponseDisagrees(AssertionError):
    """An answer that its operation's declaration does not describe."""


@cache
def _validator(schema_json: str) -> Any:
    schema = {**json.loads(schema_json), "components": {"schemas": COMPONENTS}}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def problems(operation: Operation, status: int, content_type: str, body: bytes) -> list[str]:
    """What in this answer disagrees with `operation`'s declaration (nothing: it conforms)."""
    declared = operation.answers().get(str(status))
    if declared is None:
        return [f"{operation.operation_id} answered {status}, which it does not declare"]
    content = declared.get("content")
    if content is None:
        return (
            []
            if not body
            else [f"{operation.operation_id} answered {status} with a body it declares none for"]
        )
    if not content_type.startswith("application/json"):
        return [f"{operation.operation_id} answered {status} as {content_type!r}, not JSON"]
    schema = content["application/json"]["schema"]
    instance = json.loads(body)
    return [
        f"{operation.operation_id} {status}: {error.message} at {list(error.instance_path)}"
        for error in _validator(json.dumps(schema, sort_keys=True)).iter_errors(instance)
    ]


class ResponseConformanceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        operation = operations_of(match.func).get(request.method or "") if match is not None else None
        if operation is not None:
            found = problems(
                operation, response.status_code, response.get("Content-Type", ""), response.content
            )
            if found:
                raise ResponseDisagrees("\n".join(found))
        return response
