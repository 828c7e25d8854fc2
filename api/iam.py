"""IAM API v1alpha1: `logs` (list, get) and `api-keys` (list, create, get, update, delete).

Wire-compatible with Scaleway's (reference §8.1, §8.4). Page-number paging with `total_count`.
Each endpoint is an `api.declare.Operation` needing the same action as its console page.
Creating and deleting keys go through `iam.services`, which record their audit events with the
calling key's bearer, IP, user agent and request id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import Func, IntegerField, Q, QuerySet, Subquery
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from api.declare import (
    Args,
    Body,
    Field,
    Handler,
    Operation,
    Param,
    PathParam,
    Query,
    Resources,
    Validator,
    component,
    operation,
)
from api.http import (
    Params,
    argument_error,
    deny,
    invalid_arguments,
    not_found,
    permissions_denied,
)
from api.schemas import (
    INTEGER,
    NULLABLE_TIMESTAMP,
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
from iam.logs import LOG_ACTIONS, LOG_RESOURCE_TYPES, IamLog, iam_log_count, iam_log_events
from iam.models import APIKey, Application, Membership, Project, User
from iam.permission_sets import IAM_METHOD_ACTIONS
from iam.services import IamPermissionDenied, api_key_create, api_key_delete, api_key_update, user_resource

GLOBAL = "global"
TAG = "IAM"
ACCESS_KEY_RE = re.compile(r"^SCW[A-Z0-9]{17}$", re.IGNORECASE)
ACCESS_KEY_LENGTH, MAX_ACCESS_KEYS = 20, 100
DESCRIPTION_MAX, SEARCH_MAX = 200, 200
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
LOG_ORDER = ("created_at_asc", "created_at_desc")
BEARER_TYPES = ("user", "application")
API_KEY_ORDER = {
    "created_at_asc": ("created_at", "access_key"),
    "created_at_desc": ("-created_at", "-access_key"),
    "updated_at_asc": ("updated_at", "access_key"),
    "updated_at_desc": ("-updated_at", "-access_key"),
    "expires_at_asc": ("expires_at", "access_key"),
    "expires_at_desc": ("-expires_at", "-access_key"),
    "access_key_asc": ("access_key",),
    "access_key_desc": ("-access_key",),
}
PAGE = [
    Query.integer("page", minimum=1, maximum=2**31 - 1, default=1),
    Query.integer("page_size", minimum=1, maximum=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE),
]
ACCESS_KEY_PATH = PathParam("access_key", {"type": "string", "maxLength": ACCESS_KEY_LENGTH})
ACCESS_KEY_PATTERN = "^[Ss][Cc][Ww][A-Za-z0-9]{17}$"  # ACCESS_KEY_RE: any case


def iam_operation(
    method: str,
    operation_id: str,
    *,
    summary: str,
    response: Schema | None,
    status: int = 200,
    path: Sequence[PathParam] = (),
    query: Sequence[Param] = (),
    body: Body | None = None,
    resources: Resources | None = None,
    validate: Validator | None = None,
) -> Callable[[Handler], Operation]:
    """An IAM operation: global, and needing the action of its console page (IAM_METHOD_ACTIONS)."""
    return operation(
        method,
        operation_id,
        summary=summary,
        tag=TAG,
        action=IAM_METHOD_ACTIONS[operation_id],
        locality=GLOBAL,
        response=response,
        status=status,
        path=path,
        query=query,
        body=body,
        resources=resources,
        validate=validate,
    )


def _page(qs: QuerySet[Any], args: Args) -> list[Any]:
    start = (args["page"] - 1) * args["page_size"]
    return list(qs[start : start + args["page_size"]])


class _Count(Func):
    """COUNT(*) as a plain function, not an aggregate: the ORM adds no GROUP BY for it, so a
    queryset's `.annotate(n=_Count()).values("n")` is `SELECT COUNT(*) FROM ... WHERE ...`."""

    function = "COUNT"
    template = "%(function)s(*)"
    output_field = IntegerField()


def _page_and_total(qs: QuerySet[Any], args: Args) -> tuple[list[Any], int]:
    """One page of `qs` and how many rows it has, in one statement: each row carries the total,
    a scalar subquery over the same filters (run once). Only a page past the end, which has no
    row to carry it, counts in a second query."""
    counted = qs.order_by().annotate(n=_Count()).values("n")
    rows = _page(qs.annotate(total_count=Subquery(counted, output_field=IntegerField())), args)
    return rows, rows[0].total_count if rows else qs.count()


# --- logs --------------------------------------------------------------------------------------


def log_json(log: IamLog) -> dict[str, Any]:
    return {
        "id": str(log.id),
        "created_at": iso(log.created_at),
        "ip": log.ip or "",
        "user_agent": log.user_agent,
        "action": log.action,
        "bearer_id": str(log.bearer_id) if log.bearer_id else "",
        "organization_id": str(log.organization_id),
        "resource_type": log.resource_type,
        "resource_id": log.resource_id,
    }


LOG = component(
    "Log",
    closed(
        {
            "id": UUID,
            "created_at": TIMESTAMP,
            "ip": STRING,
            "user_agent": STRING,
            "action": {"type": "string", "enum": ["unknown_action", *LOG_ACTIONS]},
            "bearer_id": STRING,
            "organization_id": UUID,
            "resource_type": {"type": "string", "enum": ["unknown_resource_type", *LOG_RESOURCE_TYPES]},
            "resource_id": STRING,
        },
        required=["id", "created_at", "action", "organization_id", "resource_type", "resource_id"],
    ),
)


@iam_operation(
    "GET",
    "ListLogs",
    summary="List IAM logs (changes to API keys, users, applications, groups, policies)",
    query=[
        *PAGE,
        Query.enum("order_by", LOG_ORDER, default="created_at_asc"),
        Query.datetime("created_after"),
        Query.datetime("created_before"),
        Query.enum("action", LOG_ACTIONS, unknown="unknown_action"),
        Query.enum("resource_type", LOG_RESOURCE_TYPES, unknown="unknown_resource_type"),
        Query.string("search", max_length=SEARCH_MAX, description="A bearer id or a resource id."),
    ],
    response=component(
        "ListLogsResponse",
        closed({"logs": array(LOG), "total_count": INTEGER}, required=["logs", "total_count"]),
    ),
)
def list_logs(request: ApiRequest, args: Args) -> HttpResponse:
    """ListLogs: IAM changes derived from the trail's IAM events, oldest first by default."""
    qs = iam_log_events(
        organization_id=request.organization.pk,
        ascending=args["order_by"] == "created_at_asc",
        **{
            name: args[name]
            for name in ("created_after", "created_before", "action", "resource_type", "search")
        },
    )
    if args["action"] or args["resource_type"] or args["search"]:
        # One query: the page and the total (the partial index audit_event_iam_log_idx serves both).
        events, total = _page_and_total(qs, args)
    else:
        # The page, then the total from the per-hour counts the door keeps (`iam_log_count`):
        # counting every entry of a busy organization took longer than the page itself.
        events = _page(qs, args)
        total = iam_log_count(
            organization_id=request.organization.pk,
            created_after=args["created_after"],
            created_before=args["created_before"],
        )
    logs = [log_json(IamLog.from_event(event)) for event in events]
    return JsonResponse({"logs": logs, "total_count": total})


@iam_operation(
    "GET",
    "GetLog",
    summary="Get one IAM log",
    path=[PathParam("log_id", UUID)],
    response=LOG,
)
def get_log(request: ApiRequest, args: Args, log_id: str) -> HttpResponse:
    """GetLog: one log entry of the key's organization; any other id is not found."""
    try:
        pk = uuid.UUID(log_id)
    except ValueError:
        raise not_found("log", log_id) from None
    event = iam_log_events(organization_id=request.organization.pk).filter(id=pk).first()
    if event is None:
        raise not_found("log", log_id)
    return JsonResponse(log_json(IamLog.from_event(event)))


# --- API keys ----------------------------------------------------------------------------------


def api_key_json(key: APIKey, *, secret_key: str | None = None) -> dict[str, Any]:
    """An APIKey as on the wire; the secret only in CreateAPIKey's answer."""
    data: dict[str, Any] = {
        "access_key": key.access_key,
        "description": key.description,
        "created_at": iso(key.created_at),
        "updated_at": iso(key.updated_at),
        "expires_at": iso(key.expires_at),
        "default_project_id": str(key.default_project_id) if key.default_project_id else None,
        "editable": True,
        "deletable": True,
        "managed": False,
        "creation_ip": key.creation_ip or "",
    }
    if secret_key is not None:
        data["secret_key"] = secret_key
    data["user_id" if key.user_id else "application_id"] = str(key.bearer_id)
    return data


BOOLEAN: Schema = {"type": "boolean"}
API_KEY = component(
    "APIKey",
    closed(
        {
            "access_key": {"type": "string", "pattern": "^SCW[A-Z0-9]{17}$"},
            "secret_key": {
                "type": "string",
                "format": "uuid",
                "description": "Only in CreateAPIKey's answer.",
            },
            "description": STRING,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "expires_at": NULLABLE_TIMESTAMP,
            "default_project_id": {"type": ["string", "null"], "format": "uuid"},
            "editable": BOOLEAN,
            "deletable": BOOLEAN,
            "managed": BOOLEAN,
            "creation_ip": STRING,
            "user_id": UUID,
            "application_id": UUID,
        },
        required=["access_key", "created_at", "editable", "deletable", "managed"],
    ),
)


def _api_key_queryset(request: ApiRequest) -> QuerySet[APIKey]:
    return APIKey.objects.filter(organization=request.organization)


def _access_keys(params: Params) -> list[str]:
    """Repeated `access_keys`; empty values are no filter."""
    access_keys = [k for k in params.data.getlist("access_keys") if k]
    if len(access_keys) > MAX_ACCESS_KEYS:
        params.error("access_keys", "constraint", f"give at most {MAX_ACCESS_KEYS} access keys")
    elif any(not ACCESS_KEY_RE.fullmatch(k) for k in access_keys):
        params.error("access_keys", "format", "access keys look like SCW followed by 17 letters or digits")
    return access_keys


@iam_operation(
    "GET",
    "ListAPIKeys",
    summary="List the organization's API keys",
    query=[
        *PAGE,
        Query.enum("order_by", API_KEY_ORDER, default="created_at_asc"),
        Query.uuid("application_id"),
        Query.uuid("user_id"),
        Query.uuid("bearer_id"),
        Query.enum("bearer_type", BEARER_TYPES, unknown="unknown_bearer_type"),
        Query.boolean("editable"),
        Query.boolean("expired"),
        Query.string("access_key", max_length=ACCESS_KEY_LENGTH),
        Query.string("description", max_length=DESCRIPTION_MAX),
        Query.custom(
            "access_keys",
            {
                "type": "array",
                "maxItems": MAX_ACCESS_KEYS,
                "items": {"type": "string", "pattern": ACCESS_KEY_PATTERN},
            },
            _access_keys,
            "Repeat the parameter for several keys.",
        ),
    ],
    response=component(
        "ListAPIKeysResponse",
        closed({"api_keys": array(API_KEY), "total_count": INTEGER}, required=["api_keys", "total_count"]),
    ),
)
def list_api_keys(request: ApiRequest, args: Args) -> HttpResponse:
    """ListAPIKeys: the organization's keys, page-numbered, with Scaleway's filters."""
    qs = _api_key_queryset(request)
    if args["application_id"]:
        qs = qs.filter(application_id=args["application_id"])
    if args["user_id"]:
        qs = qs.filter(user_id=args["user_id"])
    if bearer_id := args["bearer_id"]:
        qs = qs.filter(Q(user_id=bearer_id) | Q(application_id=bearer_id))
    if args["bearer_type"]:
        qs = qs.filter(**{f"{args['bearer_type']}__isnull": False})
    if args["editable"] is False:  # every key here is editable
        qs = qs.none()
    if args["expired"] is not None:
        expired_q = Q(expires_at__isnull=False, expires_at__lte=timezone.now())
        qs = qs.filter(expired_q) if args["expired"] else qs.exclude(expired_q)
    if args["access_key"]:
        qs = qs.filter(access_key=args["access_key"].upper())
    if args["access_keys"]:
        qs = qs.filter(access_key__in=[k.upper() for k in args["access_keys"]])
    if args["description"]:
        qs = qs.filter(description__icontains=args["description"])
    qs = qs.order_by(*API_KEY_ORDER[args["order_by"]])
    keys = [api_key_json(key) for key in _page(qs, args)]
    return JsonResponse({"api_keys": keys, "total_count": qs.count()})


def _bearer(request: ApiRequest, args: Args, params: Params) -> None:
    """args["user"] or args["application"]: exactly one, of the caller's organization."""
    args["user"] = args["application"] = None
    if params.errors:
        return
    user_id, application_id = args["user_id"], args["application_id"]
    if (user_id is None) == (application_id is None):
        raise invalid_arguments(
            [argument_error("user_id", "required", "give exactly one of user_id and application_id")]
        )
    organization = request.organization
    if application_id is not None:
        args["application"] = Application.objects.filter(organization=organization, pk=application_id).first()
        if args["application"] is None:
            raise not_found("application", str(application_id))
        return
    user = User.objects.filter(pk=user_id, is_active=True).first()
    is_member = user is not None and (
        organization.owner_id == user.pk
        or Membership.objects.active().filter(organization=organization, user=user).exists()
    )
    if not is_member:
        raise not_found("user", str(user_id))
    args["user"] = user


@iam_operation(
    "POST",
    "CreateAPIKey",
    summary="Create an API key for yourself or an application (audited as CreateAPIKey)",
    body=Body(
        "CreateAPIKeyRequest",
        [
            Field.string("description", max_length=DESCRIPTION_MAX),
            Field.datetime("expires_at", "In the future."),
            Field.uuid("default_project_id"),
            Field.uuid("user_id"),
            Field.uuid("application_id"),
        ],
        required_body=True,
        extra={
            "description": "Exactly one of user_id and application_id.",
            "oneOf": [
                {"required": ["user_id"], "properties": {"user_id": UUID}},
                {"required": ["application_id"], "properties": {"application_id": UUID}},
            ],
        },
    ),
    validate=_bearer,
    response=API_KEY,
)
def create_api_key(request: ApiRequest, args: Args) -> HttpResponse:
    """CreateAPIKey: a key for a member or an application of the caller's organization."""
    expires_at = args["expires_at"]
    if expires_at is not None and expires_at <= timezone.now():
        raise invalid_arguments(
            [argument_error("expires_at", "constraint", "expires_at must be in the future")]
        )
    default_project = None
    if args["default_project_id"] is not None:
        default_project = Project.objects.filter(
            organization=request.organization, pk=args["default_project_id"]
        ).first()
        if default_project is None:
            raise not_found("project", str(args["default_project_id"]))
    user: User | None = args["user"]
    try:
        key, secret_key = api_key_create(
            actor=Actor.of(request.principal, request=request),
            organization=request.organization,
            user=user,
            application=args["application"],
            description=args["description"] or "",
            default_project=default_project,
            expires_at=expires_at,
        )
    except IamPermissionDenied:
        # Another member as bearer: the key would act in their name. The console refuses it too.
        action = IAM_METHOD_ACTIONS["CreateAPIKey"]
        bearer = [user_resource(user)] if user is not None else []
        deny(request, action, method="CreateAPIKey", locality=GLOBAL, resources=bearer)
        raise permissions_denied(action) from None
    return JsonResponse(api_key_json(key, secret_key=secret_key))


def _get_key(request: ApiRequest, access_key: str) -> APIKey:
    key = None
    if ACCESS_KEY_RE.fullmatch(access_key):
        key = _api_key_queryset(request).filter(access_key=access_key.upper()).first()
    if key is None:
        raise not_found("api_key", access_key)
    return key


@iam_operation(
    "GET",
    "GetAPIKey",
    summary="Get one API key (never its secret)",
    path=[ACCESS_KEY_PATH],
    response=API_KEY,
)
def get_api_key(request: ApiRequest, args: Args, access_key: str) -> HttpResponse:
    return JsonResponse(api_key_json(_get_key(request, access_key)))


def _api_key_resources(access_key: str) -> list[dict[str, Any]]:
    return [{"id": access_key[:20], "type": "iam_api_key"}]


def _the_key(request: ApiRequest, args: Args, params: Params, access_key: str) -> None:
    """The key (not_found before any invalid argument), and what of it may change."""
    args["key"] = _get_key(request, access_key)
    expires_at = args["expires_at"]
    if expires_at is not None and expires_at <= timezone.now():
        params.error("expires_at", "constraint", "expires_at must be in the future")
    args["default_project"] = None
    if args["default_project_id"] is not None:
        args["default_project"] = Project.objects.filter(
            organization=request.organization, pk=args["default_project_id"]
        ).first()
        if args["default_project"] is None:
            params.error("default_project_id", "constraint", "no such project in the organization")


@iam_operation(
    "PATCH",
    "UpdateAPIKey",
    summary="Change an API key's description, default project or expiry (audited as UpdateAPIKey)",
    path=[ACCESS_KEY_PATH],
    body=Body(
        "UpdateAPIKeyRequest",
        [
            Field.string("description", max_length=DESCRIPTION_MAX),
            Field.uuid("default_project_id"),
            Field.datetime("expires_at", "In the future."),
        ],
        extra={"description": "What is left out is kept; the secret never changes."},
    ),
    resources=_api_key_resources,
    validate=_the_key,
    response=API_KEY,
)
def update_api_key(request: ApiRequest, args: Args, access_key: str) -> HttpResponse:
    """UpdateAPIKey: the key keeps its secret and bearer."""
    key = api_key_update(
        actor=Actor.of(request.principal, request=request),
        key=args["key"],
        description=args["description"],
        default_project=args["default_project"],
        expires_at=args["expires_at"],
    )
    return JsonResponse(api_key_json(key))


@iam_operation(
    "DELETE",
    "DeleteAPIKey",
    summary="Delete an API key (audited as DeleteAPIKey)",
    path=[ACCESS_KEY_PATH],
    resources=_api_key_resources,
    response=None,
    status=204,
)
def delete_api_key(request: ApiRequest, args: Args, access_key: str) -> HttpResponse:
    """DeleteAPIKey: 204; the key stops authenticating at once."""
    key = _get_key(request, access_key)
    api_key_delete(actor=Actor.of(request.principal, request=request), key=key)
    return HttpResponse(status=204)
