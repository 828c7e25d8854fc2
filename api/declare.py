"""Each API endpoint declared once: parsing, validation, permission, answers, and the document.

An `Operation` declares one endpoint: its path and query parameters and its JSON body fields
(each `Param` parses itself through `api.http.Params`, with the clients' quirks, and describes
itself as OpenAPI), the permission it needs, and its answer (status and schema). `route()` puts
the operations of one URL behind one Django view; `api.openapi` walks the URLconf and builds the
document from these declarations, and the test settings check every answer against them.

Why not django-ninja (tried in issue 9's plan): each of Scaleway's quirks that `Params` already
handles and tests (an empty query value is absent, Go's `unknown_*` enum defaults, strconv.ParseBool
booleans, space-separated datetimes, `invalid_arguments` details naming each argument) would need
its own pydantic type or error handler, and the wire format would hang on how pydantic reports
errors. Declarations over `Params` keep the parsing we trust and add the document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse

from api.http import (
    Params,
    api_view,
    argument_error,
    authorize,
    check_organization,
    invalid_arguments,
    read_json,
)
from api.schemas import BOOLEAN_INPUT, TIMESTAMP_INPUT, UUID, Schema, optional, text
from iam.http import ApiRequest

Args = dict[str, Any]
Handler = Callable[..., HttpResponse]
Resources = Callable[..., list[dict[str, Any]]]
Validator = Callable[..., None]

# components/schemas: every named schema, registered where it is declared.
COMPONENTS: dict[str, Schema] = {}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def component(name: str, schema: Schema) -> Schema:
    """Register `schema` under `name` in the document's components; a reference to it."""
    COMPONENTS[name] = schema
    return ref(name)


def json_response(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _retry_after(description: str) -> Schema:
    return {
        **json_response(ref("Error"), description),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }


# The refusals every operation may answer, in Scaleway's error shapes (api.http).
ERRORS: dict[str, Schema] = {
    "400": json_response(ref("Error"), "invalid_arguments, with one detail per bad argument"),
    "401": json_response(ref("Error"), "denied_authentication: missing, unknown or expired key"),
    "403": json_response(ref("Error"), "permissions_denied (recorded in the trail as a 403 event)"),
    "404": json_response(ref("Error"), "not_found"),
    "429": _retry_after("too_many_requests"),
    "503": _retry_after("service_unavailable: the database cannot answer now (api.faults)"),
}

component(
    "Error",
    {
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
                    "service_unavailable",
                ],
            },
            "details": {"type": "array", "items": {"type": "object"}},
            "resource": {"type": "string"},
            "resource_id": {"type": "string"},
            "method": {"type": "string"},
            "reason": {"type": "string"},
            "retry_after": {"type": "integer"},
            # too_many_requests, as the SDKs read it (api.http.too_many_requests)
            "help_message": {"type": "string"},
            "limit": {
                "type": "object",
                "required": ["quota"],
                "properties": {"quota": {"type": "integer"}, "window_seconds": {"type": "integer"}},
            },
            "reset_seconds": {"type": "integer"},
            "reset_at": {"type": "string", "format": "date-time"},
        },
    },
)


# --- parameters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One query parameter or body field: how it parses, and how the document describes it.

    `parse` reads it from `Params` (which records any error); `default` stands for an absent value.
    """

    name: str
    schema: Schema
    parse: Callable[[Params], Any]
    description: str = ""
    default: Any = None

    def read(self, params: Params) -> Any:
        value = self.parse(params)
        return self.default if value is None else value

    def parameter(self) -> Schema:
        """The OpenAPI query parameter. Optional, and an empty value is absent (Go clients send
        `organization_id=`)."""
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "allowEmptyValue": True,
            "schema": self.schema,
            "description": self.description,
        }


def _with_default(schema: Schema, default: Any) -> Schema:
    return schema if default is None else {**schema, "default": default}


class Query:
    """Query parameters, each parsed by the `Params` accessor of its kind."""

    @staticmethod
    def uuid(name: str, description: str = "") -> Param:
        return Param(name, UUID, lambda p: p.uuid(name), description)

    @staticmethod
    def string(name: str, *, max_length: int, schema: Schema | None = None, description: str = "") -> Param:
        return Param(
            name, schema or text(max_length), lambda p: p.string(name, max_length=max_length), description
        )

    @staticmethod
    def integer(
        name: str, *, minimum: int, maximum: int, default: int | None = None, description: str = ""
    ) -> Param:
        schema = _with_default({"type": "integer", "minimum": minimum, "maximum": maximum}, default)
        return Param(
            name, schema, lambda p: p.integer(name, minimum=minimum, maximum=maximum), description, default
        )

    @staticmethod
    def boolean(name: str, description: str = "") -> Param:
        return Param(name, BOOLEAN_INPUT, lambda p: p.boolean(name), description)

    @staticmethod
    def enum(
        name: str,
        values: Iterable[str],
        *,
        unknown: str | None = None,
        default: str | None = None,
        description: str = "",
    ) -> Param:
        """One of `values`; `unknown` is the proto default Go clients send for "unset"."""
        choices = list(values)
        schema = _with_default(
            {"type": "string", "enum": [*([unknown] if unknown else []), *choices]}, default
        )
        return Param(
            name,
            schema,
            lambda p: p.enum(name, choices, unknown=unknown, default=default),
            description,
        )

    @staticmethod
    def datetime(name: str, description: str = "") -> Param:
        return Param(name, TIMESTAMP_INPUT, lambda p: p.datetime(name), description)

    @staticmethod
    def custom(name: str, schema: Schema, parse: Callable[[Params], Any], description: str = "") -> Param:
        """A parameter with a rule of its own (an IP or CIDR, a resource type)."""
        return Param(name, schema, parse, description)


class Field:
    """JSON body fields. `null` is absent, and so is `""` for ids and timestamps (`Params`)."""

    @staticmethod
    def uuid(name: str) -> Param:
        return Param(name, optional(UUID), lambda p: p.uuid(name))

    @staticmethod
    def string(name: str, *, max_length: int, description: str = "") -> Param:
        schema = {**text(max_length), "type": ["string", "null"]}
        if description:
            schema["description"] = description
        return Param(name, schema, lambda p: p.string(name, max_length=max_length))

    @staticmethod
    def datetime(name: str, description: str = "") -> Param:
        schema = optional(TIMESTAMP_INPUT)
        if description:
            schema["description"] = description
        return Param(name, schema, lambda p: p.datetime(name))

    @staticmethod
    def custom(name: str, schema: Schema, parse: Callable[[Params], Any]) -> Param:
        """A field whose rule a `Params` accessor alone does not hold (a list of ids, a duration)."""
        return Param(name, schema, parse)


@dataclass(frozen=True)
class PathParam:
    """A path segment. `check` refuses a malformed one before anything else (the region); ids
    are looked up by the view, which answers not_found for any it does not know."""

    name: str
    schema: Schema
    check: Callable[[str], None] | None = None

    def parameter(self) -> Schema:
        return {"name": self.name, "in": "path", "required": True, "schema": self.schema}


ORGANIZATION_HELP = "Defaults to the API key's organization; another is refused."


@dataclass(frozen=True)
class Body:
    """A JSON object body: its fields, and its schema under `name` in the document.

    `raw`: the view reads the body itself (ingestion takes JSON, a JSON array or NDJSON); the
    declaration then only describes it, with `content` for each media type.
    """

    name: str
    fields: Sequence[Param] = ()
    required: Sequence[str] = ()
    required_body: bool | None = None  # default: required when it has required fields
    extra: Schema = field(default_factory=dict)
    raw: bool = False
    content: dict[str, Schema] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.required) - {f.name for f in self.fields}
        if unknown and not self.raw:
            raise ValueError(f"{self.name} requires fields it does not declare: {sorted(unknown)}")

    def schema(self, *, organization: bool) -> Schema:
        properties: dict[str, Schema] = {}
        if organization:
            properties["organization_id"] = {**optional(UUID), "description": ORGANIZATION_HELP}
        properties.update({f.name: f.schema for f in self.fields})
        schema: Schema = {"type": "object"}
        if self.required:
            schema["required"] = list(self.required)
        return {**schema, "properties": properties, **self.extra}

    def request_body(self) -> Schema:
        """The requestBody object. Optional unless it has required fields: like Scaleway's gateway,
        the API reads a missing body as `{}`."""
        required = bool(self.required) if self.required_body is None else self.required_body
        content = self.content or {"application/json": {"schema": ref(self.name)}}
        return {"required": required, "content": content}

    def parse(self, request: HttpRequest) -> Params:
        body = read_json(request)
        if not isinstance(body, dict):
            raise invalid_arguments([argument_error("body", "format", "the body must be a JSON object")])
        return Params(body)


# --- operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One endpoint, declared once. Calling it runs the checks in Scaleway's order:

    1. the JSON body is an object (when there is one);
    2. the path parameters' checks (the region);
    3. `organization_id` (query or body): absent or the key's own, else a recorded refusal;
    4. the permission `action`, on `resources(**path)` (a refusal is recorded as a 403 event);
    5. every declared parameter and field, then `validate(request, args, params, **path)` for the
       rules that need the database (a unique name, the rule being renamed): their errors make
       one invalid_arguments answer;
    6. the handler, `handler(request, args, **path)`, with the parsed values by name.
    """

    method: str
    operation_id: str
    summary: str
    tag: str
    action: str
    handler: Handler
    response: Schema | None  # None: no content
    status: int = 200
    path: Sequence[PathParam] = ()
    query: Sequence[Param] = ()
    body: Body | None = None
    locality: str | None = None  # None: the path's region
    organization: bool = True
    resources: Resources | None = None
    validate: Validator | None = None
    description: str = ""
    responses: dict[str, Schema] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.body is not None and not self.body.raw:
            component(self.body.name, self.body.schema(organization=self.organization))

    def __call__(self, request: ApiRequest, **path: str) -> HttpResponse:
        body = self.body
        params = body.parse(request) if body is not None and not body.raw else Params(request.GET)
        for param in self.path:
            if param.check is not None:
                param.check(path[param.name])
        locality = self.locality or path["region"]
        if self.organization:
            check_organization(
                request, params, action=self.action, method=self.operation_id, locality=locality
            )
        resources = self.resources(**path) if self.resources is not None else None
        authorize(request, self.action, method=self.operation_id, locality=locality, resources=resources)
        fields = body.fields if body is not None else self.query
        args: Args = {param.name: param.read(params) for param in fields}
        if self.validate is not None:
            self.validate(request, args, params, **path)
        params.check()
        return self.handler(request, args, **path)

    def answers(self) -> dict[str, Schema]:
        """status → the response object, the refusals included."""
        success = json_response(self.response) if self.response is not None else {"description": "No content"}
        return {str(self.status): success, **ERRORS, **self.responses}

    def openapi(self) -> Schema:
        parameters = [p.parameter() for p in self.path]
        if self.organization and self.body is None:
            parameters.append(Query.uuid("organization_id", ORGANIZATION_HELP).parameter())
        parameters += [q.parameter() for q in self.query]
        operation: Schema = {
            "operationId": self.operation_id,
            "summary": self.summary,
            "tags": [self.tag],
            "parameters": parameters,
            "responses": self.answers(),
        }
        if self.description:
            operation["description"] = self.description
        if self.body is not None:
            operation["requestBody"] = self.body.request_body()
        return operation


def operation(
    method: str,
    operation_id: str,
    *,
    summary: str,
    tag: str,
    action: str,
    response: Schema | None,
    status: int = 200,
    path: Sequence[PathParam] = (),
    query: Sequence[Param] = (),
    body: Body | None = None,
    locality: str | None = None,
    organization: bool = True,
    resources: Resources | None = None,
    validate: Validator | None = None,
    description: str = "",
    responses: dict[str, Schema] | None = None,
) -> Callable[[Handler], Operation]:
    """Declare the decorated handler `handler(request, args, **path)` as an `Operation`."""

    def decorator(handler: Handler) -> Operation:
        return Operation(
            method=method,
            operation_id=operation_id,
            summary=summary,
            tag=tag,
            action=action,
            handler=handler,
            response=response,
            status=status,
            path=path,
            query=query,
            body=body,
            locality=locality,
            organization=organization,
            resources=resources,
            validate=validate,
            description=description,
            responses=responses or {},
        )

    return decorator


def route(*operations: Operation) -> Handler:
    """One URL's view: each method to its operation, behind `api_view` (method check, X-Auth-Token,
    rate limit, JSON errors). The operations stay on the view for the document and the tests."""
    by_method = {op.method: op for op in operations}

    def view(request: ApiRequest, **path: str) -> HttpResponse:
        return by_method[request.method or ""](request, **path)

    wrapped = api_view(*by_method)(view)
    wrapped.operations = by_method  # type: ignore[attr-defined]  # read by api.openapi and the tests
    return wrapped


def operations_of(view: Any) -> dict[str, Operation]:
    """The operations a URLconf view declares (none for views that are not `route()`s)."""
    found = getattr(view, "operations", None)
    return found if isinstance(found, dict) else {}
