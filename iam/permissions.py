"""The one permission check: may this principal do X in this organization (and project)?

Console views and API endpoints both call `has_permission` (or the decorator below), so the
two always agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.models import PrincipalType
from audit.services import Actor, record_refusal
from core.regions import DEFAULT_REGION, REGIONS
from iam.models import Application, Membership, Organization, Rule, User
from iam.permission_sets import ACTIONS, IAM_METHOD_ACTIONS, ORGANIZATION_SCOPED_ACTIONS

Principal = User | Application


@dataclass(frozen=True)
class Grants:
    """What a principal holds in one organization: owner, or a list of (permission set, scope)."""

    owner: bool = False
    member: bool = False
    # (permission set name, None for organization scope or a frozenset of project ids)
    rules: tuple[tuple[str, frozenset[str] | None], ...] = field(default_factory=tuple)

    def allows(self, action: str, project_id: uuid.UUID | str | None = None) -> bool:
        if self.owner:
            return True
        if not self.member:
            return False
        granting = ACTIONS.get(action)
        if granting is None:
            raise ValueError(f"Unknown action {action!r}")
        for name, projects in self.rules:
            if name not in granting:
                continue
            if projects is None:
                return True
            if action in ORGANIZATION_SCOPED_ACTIONS or project_id is None:
                continue
            if str(project_id) in projects:
                return True
        return False

    @property
    def permission_set_names(self) -> set[str]:
        return {name for name, _ in self.rules}


def grants_for(principal: Principal, organization: Organization) -> Grants:
    """Load a principal's grants in an organization. Costs at most two queries."""
    if isinstance(principal, User):
        if not principal.is_active:
            return Grants()
        if organization.owner_id == principal.pk:
            return Grants(owner=True, member=True)
        if not Membership.objects.active().filter(organization=organization, user=principal).exists():
            return Grants()
        rules = Rule.objects.filter(policy__organization=organization).filter(models_q_for_user(principal))
    else:
        if principal.organization_id != organization.pk:
            return Grants()
        rules = Rule.objects.filter(policy__organization=organization).filter(
            models_q_for_application(principal)
        )
    granted: list[tuple[str, frozenset[str] | None]] = []
    for names, scope_type, project_ids in rules.values_list(
        "permission_set_names", "scope_type", "project_ids"
    ):
        scope = None if scope_type == Rule.ScopeType.ORGANIZATION else frozenset(map(str, project_ids or []))
        granted.extend((name, scope) for name in names)
    return Grants(member=True, rules=tuple(dict.fromkeys(granted)))


def models_q_for_user(user: User) -> Q:
    return Q(policy__user=user) | Q(policy__group__users=user)


def models_q_for_application(application: Application) -> Q:
    return Q(policy__application=application) | Q(policy__group__applications=application)


def has_permission(
    principal: Principal | None,
    organization: Organization | None,
    action: str,
    project_id: uuid.UUID | str | None = None,
) -> bool:
    if principal is None or organization is None:
        return False
    return grants_for(principal, organization).allows(action, project_id)


def may_create_api_key_for(actor: Actor, organization: Organization, bearer: Principal) -> bool:
    """Whom `actor` may create an API key for: itself, or an application of the organization.

    A key acts as its bearer, so a key for another user would let its creator act, and be
    recorded, in that user's name (an IAM manager minting the owner's key). The console's form
    offers only these bearers; `api_key_create` enforces the rule for every door. The platform
    itself (operators' commands, the demo) may create a key for anyone it names.
    """
    if isinstance(bearer, Application):
        return bearer.organization_id == organization.pk
    if actor.principal_type == PrincipalType.SYSTEM:
        return True
    return actor.principal_type == PrincipalType.USER and actor.principal_id == bearer.pk


def request_principal(request: HttpRequest) -> Principal | None:
    principal = getattr(request, "principal", None)
    if principal is not None:
        return principal  # type: ignore[no-any-return]  # set by the API door: a Principal
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def request_grants(request: HttpRequest) -> Grants:
    """The request principal's grants in the request's organization, computed once per request."""
    cached = getattr(request, "_iam_grants", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    principal = request_principal(request)
    organization = getattr(request, "organization", None)
    grants = grants_for(principal, organization) if principal and organization else Grants()
    request._iam_grants = grants  # type: ignore[attr-defined]
    return grants


def request_may(request: HttpRequest, action: str, project_id: uuid.UUID | str | None = None) -> bool:
    return request_grants(request).allows(action, project_id)


def deny(
    request: HttpRequest, action: str, *, method: str, resources: list[dict[str, Any]] | None = None
) -> None:
    """Record the console's refusal of `action` as a 403 event, in the region the page shows,
    with the fields the user submitted (the CSRF token aside)."""
    region = request.GET.get("region")
    submitted = request.POST if request.method == "POST" else request.GET
    record_refusal(
        request,
        action=action,
        method_name=method,
        locality=region if region in REGIONS else DEFAULT_REGION,
        resources=resources or [],
        request_body={k: v for k, v in submitted.items() if k != "csrfmiddlewaretoken"},
    )


def forbidden(
    request: HttpRequest,
    action: str,
    *,
    method: str,
    resources: list[dict[str, Any]] | None = None,
    template_name: str = "403.html",
    extra_context: dict[str, Any] | None = None,
) -> HttpResponse:
    """The console's answer to a refusal: the 403 event (when there is an organization to file it
    under) and a 403 page that names the permission sets the action needs."""
    if getattr(request, "organization", None) is not None:
        deny(request, action, method=method, resources=resources)
    context = {"action": action, "permission_sets": sorted(ACTIONS.get(action, ())), **(extra_context or {})}
    return render(request, template_name, context, status=403)


def iam_method_required(
    method: str, *, template_name: str = "403.html"
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """`permission_required` for an IAM operation, with the action its API endpoint also needs."""
    return permission_required(IAM_METHOD_ACTIONS[method], method=method, template_name=template_name)


def permission_required(
    action: str, *, method: str, template_name: str = "403.html"
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Console view decorator: a 403 page (and a 403 event) unless the user may perform `action`.

    `method` is the API method name under which a refusal is recorded (e.g. "ListEvents").
    Apply it under `login_required`.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request_may(request, action):
                return view(request, *args, **kwargs)
            return forbidden(request, action, method=method, template_name=template_name)

        return wrapper

    return decorator
