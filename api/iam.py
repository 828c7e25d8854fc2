"""IAM API v1alpha1: `logs` (list, get) and `api-keys` (list, create, get, delete).

Wire-compatible with Scaleway's (reference §8.1, §8.4). Page-number paging with `total_count`.
Creating and deleting keys go through `iam.services`, which record their audit events with the
calling key's bearer, IP, user agent and request id.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from api.http import (
    Params,
    api_view,
    argument_error,
    authorize,
    check_organization,
    deny,
    invalid_arguments,
    not_found,
    permissions_denied,
    read_json,
)
from audit.services import Actor
from core.time import iso
from iam.http import ApiRequest
from iam.logs import LOG_ACTIONS, LOG_RESOURCE_TYPES, IamLog, iam_log_events
from iam.models import APIKey, Application, Membership, Project, User
from iam.permission_sets import IAM_METHOD_ACTIONS
from iam.services import IamPermissionDenied, api_key_create, api_key_delete, user_resource

GLOBAL = "global"
ACCESS_KEY_RE = re.compile(r"^SCW[A-Z0-9]{17}$", re.IGNORECASE)
ACCESS_KEY_LENGTH, MAX_ACCESS_KEYS = 20, 100
DESCRIPTION_MAX, SEARCH_MAX = 200, 200
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


def _prepare(
    request: ApiRequest,
    method: str,
    params: Params | None = None,
    resources: list[dict[str, Any]] | None = None,
) -> Params:
    """Check `organization_id` and the permission `method` needs: the same action as its console page."""
    action = IAM_METHOD_ACTIONS[method]
    params = params or Params(request.GET)
    check_organization(request, params, action=action, method=method, locality=GLOBAL)
    authorize(request, action, method=method, locality=GLOBAL, resources=resources)
    return params


def _paging(params: Params) -> tuple[int, int]:
    page = params.integer("page", minimum=1, maximum=2**31 - 1) or 1
    page_size = params.integer("page_size", minimum=1, maximum=100) or 20
    return page, page_size


def _page(qs: QuerySet[Any], page: int, page_size: int) -> list[Any]:
    start = (page - 1) * page_size
    return list(qs[start : start + page_size])


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


@api_view("GET")
def list_logs(request: ApiRequest) -> HttpResponse:
    """ListLogs: IAM changes derived from the trail's IAM events, oldest first by default."""
    params = _prepare(request, "ListLogs")
    page, page_size = _paging(params)
    order = params.enum("order_by", LOG_ORDER, default="created_at_asc")
    filters = {
        "created_after": params.datetime("created_after"),
        "created_before": params.datetime("created_before"),
        "action": params.enum("action", LOG_ACTIONS, unknown="unknown_action"),
        "resource_type": params.enum("resource_type", LOG_RESOURCE_TYPES, unknown="unknown_resource_type"),
        "search": params.string("search", max_length=SEARCH_MAX),
    }
    params.check()
    qs = iam_log_events(
        organization_id=request.organization.pk, ascending=order == "created_at_asc", **filters
    )
    logs = [log_json(IamLog.from_event(event)) for event in _page(qs, page, page_size)]
    return JsonResponse({"logs": logs, "total_count": qs.count()})


@api_view("GET")
def get_log(request: ApiRequest, log_id: str) -> HttpResponse:
    """GetLog: one log entry of the key's organization; any other id is not found."""
    _prepare(request, "GetLog").check()
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


def _api_key_queryset(request: ApiRequest) -> QuerySet[APIKey]:
    return APIKey.objects.filter(organization=request.organization)


@api_view("GET", "POST")
def api_keys(request: ApiRequest) -> HttpResponse:
    return create_api_key(request) if request.method == "POST" else list_api_keys(request)


def list_api_keys(request: ApiRequest) -> HttpResponse:
    """ListAPIKeys: the organization's keys, page-numbered, with Scaleway's filters."""
    params = _prepare(request, "ListAPIKeys")
    page, page_size = _paging(params)
    order = params.enum("order_by", API_KEY_ORDER, default="created_at_asc") or "created_at_asc"
    application_id = params.uuid("application_id")
    user_id = params.uuid("user_id")
    bearer_id = params.uuid("bearer_id")
    bearer_type = params.enum("bearer_type", BEARER_TYPES, unknown="unknown_bearer_type")
    editable = params.boolean("editable")
    expired = params.boolean("expired")
    access_key = params.string("access_key", max_length=ACCESS_KEY_LENGTH)
    description = params.string("description", max_length=DESCRIPTION_MAX)
    access_keys = [k for k in request.GET.getlist("access_keys") if k]  # empty: no filter
    if len(access_keys) > MAX_ACCESS_KEYS:
        params.error("access_keys", "constraint", f"give at most {MAX_ACCESS_KEYS} access keys")
    elif any(not ACCESS_KEY_RE.fullmatch(k) for k in access_keys):
        params.error("access_keys", "format", "access keys look like SCW followed by 17 letters or digits")
    params.check()
    qs = _api_key_queryset(request)
    if application_id:
        qs = qs.filter(application_id=application_id)
    if user_id:
        qs = qs.filter(user_id=user_id)
    if bearer_id:
        qs = qs.filter(Q(user_id=bearer_id) | Q(application_id=bearer_id))
    if bearer_type:
        qs = qs.filter(**{f"{bearer_type}__isnull": False})
    if editable is False:  # every key here is editable
        qs = qs.none()
    if expired is not None:
        expired_q = Q(expires_at__isnull=False, expires_at__lte=timezone.now())
        qs = qs.filter(expired_q) if expired else qs.exclude(expired_q)
    if access_key:
        qs = qs.filter(access_key=access_key.upper())
    if access_keys:
        qs = qs.filter(access_key__in=[k.upper() for k in access_keys])
    if description:
        qs = qs.filter(description__icontains=description)
    qs = qs.order_by(*API_KEY_ORDER[order])
    keys = [api_key_json(key) for key in _page(qs, page, page_size)]
    return JsonResponse({"api_keys": keys, "total_count": qs.count()})


def _bearer(request: ApiRequest, params: Params) -> tuple[User | None, Application | None]:
    user_id, application_id = params.uuid("user_id"), params.uuid("application_id")
    if params.errors:
        return None, None
    if (user_id is None) == (application_id is None):
        raise invalid_arguments(
            [argument_error("user_id", "required", "give exactly one of user_id and application_id")]
        )
    organization = request.organization
    if application_id is not None:
        application = Application.objects.filter(organization=organization, pk=application_id).first()
        if application is None:
            raise not_found("application", str(application_id))
        return None, application
    user = User.objects.filter(pk=user_id, is_active=True).first()
    is_member = user is not None and (
        organization.owner_id == user.pk
        or Membership.objects.active().filter(organization=organization, user=user).exists()
    )
    if not is_member:
        raise not_found("user", str(user_id))
    return user, None


def create_api_key(request: ApiRequest) -> HttpResponse:
    """CreateAPIKey: a key for a member or an application of the caller's organization."""
    body = read_json(request)
    if not isinstance(body, dict):
        raise invalid_arguments([argument_error("body", "format", "the body must be a JSON object")])
    params = _prepare(request, "CreateAPIKey", Params(body))
    description = params.string("description", max_length=DESCRIPTION_MAX) or ""
    expires_at = params.datetime("expires_at")
    default_project_id = params.uuid("default_project_id")
    user, application = _bearer(request, params)
    params.check()
    if expires_at is not None and expires_at <= timezone.now():
        raise invalid_arguments(
            [argument_error("expires_at", "constraint", "expires_at must be in the future")]
        )
    default_project = None
    if default_project_id is not None:
        default_project = Project.objects.filter(
            organization=request.organization, pk=default_project_id
        ).first()
        if default_project is None:
            raise not_found("project", str(default_project_id))
    try:
        key, secret_key = api_key_create(
            actor=Actor.of(request.principal, request=request),
            organization=request.organization,
            user=user,
            application=application,
            description=description,
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


@api_view("GET", "DELETE")
def api_key_detail(request: ApiRequest, access_key: str) -> HttpResponse:
    if request.method == "DELETE":
        return delete_api_key(request, access_key)
    _prepare(request, "GetAPIKey").check()
    return JsonResponse(api_key_json(_get_key(request, access_key)))


def delete_api_key(request: ApiRequest, access_key: str) -> HttpResponse:
    """DeleteAPIKey: 204; the key stops authenticating at once."""
    _prepare(request, "DeleteAPIKey", resources=[{"id": access_key[:20], "type": "iam_api_key"}])
    key = _get_key(request, access_key)
    api_key_delete(actor=Actor.of(request.principal, request=request), key=key)
    return HttpResponse(status=204)
