"""IAM ▸ Policies, and their rules."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from audit.services import Actor
from iam import selectors, services
from iam.forms import PolicyForm, rule_formset
from iam.http import ConsoleRequest
from iam.models import Policy
from iam.permissions import request_may
from iam.tables import PolicyTable
from iam.views._common import _done, _may_write, _organization, _page, _refuse, _table, iam_read


@require_safe
@login_required
@iam_read("ListPolicies")
def policy_list(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/policy_list.html",
        {
            "tab": "policies",
            "table": _table(request, PolicyTable, selectors.policy_list(organization=organization)),
        },
    )


def _principal_value(policy: Policy) -> str:
    principal = policy.principal
    if principal is None:
        return ""
    return f"{type(principal).__name__.lower()}:{principal.pk}"


def _policy_form_page(
    request: ConsoleRequest, *, policy: Policy | None, form: PolicyForm, formset: Any, status: int = 200
) -> HttpResponse:
    return _page(
        request,
        "iam/policy_form.html",
        {"tab": "policies", "policy": policy, "form": form, "formset": formset},
        status=status,
    )


def _policy_fields(form: PolicyForm, formset: Any) -> dict[str, Any]:
    """What policy_create and policy_update take from a valid policy form and its rules formset."""
    return {
        "name": form.cleaned_data["name"],
        "description": form.cleaned_data["description"],
        "principal": form.cleaned_data["principal"],
        "rules": formset.specs(),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def policy_create(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreatePolicy")
    form = PolicyForm(request.POST or None, organization=organization)
    formset = rule_formset(organization, request.POST or None)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            policy = services.policy_create(
                actor=Actor.from_request(request),
                organization=organization,
                **_policy_fields(form, formset),
            )
        except services.IamError as error:
            form.add_error(None, str(error))
        else:
            return _done(request, f"Policy {policy.name} created.", reverse("iam:policies"))
    return _policy_form_page(request, policy=None, form=form, formset=formset)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def policy_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    """The policy and its rules; an IAM writer edits them here (POST = UpdatePolicy)."""
    organization = _organization(request)
    policy = get_object_or_404(
        Policy.objects.select_related("user", "group", "application", "organization"),
        organization=organization,
        pk=pk,
    )
    if request.method != "POST" and not request_may(request, "iam:read"):
        return _refuse(request, "GetPolicy", [services.policy_resource(policy)], action="iam:read")
    if request.method == "POST":
        if not _may_write(request):
            return _refuse(request, "UpdatePolicy", [services.policy_resource(policy)])
        form = PolicyForm(request.POST, organization=organization)
        formset = rule_formset(organization, request.POST)
        if form.is_valid() and formset.is_valid():
            try:
                services.policy_update(
                    actor=Actor.from_request(request),
                    policy=policy,
                    **_policy_fields(form, formset),
                )
            except services.IamError as error:
                form.add_error(None, str(error))
            else:
                return _done(request, f"Policy {policy.name} saved.", reverse("iam:policies"))
        return _policy_form_page(request, policy=policy, form=form, formset=formset)
    form = PolicyForm(
        initial={
            "name": policy.name,
            "description": policy.description,
            "principal": _principal_value(policy),
        },
        organization=organization,
    )
    initial = [
        {
            "permission_set_names": rule.permission_set_names,
            "scope": rule.scope_type,
            "project_ids": [str(p) for p in rule.project_ids],
        }
        for rule in policy.rules.order_by("pk")
    ]
    return _policy_form_page(
        request, policy=policy, form=form, formset=rule_formset(organization, initial=initial)
    )


@require_POST
@login_required
def policy_delete(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    policy = get_object_or_404(
        Policy.objects.select_related("organization"), organization=_organization(request), pk=pk
    )
    if not _may_write(request):
        return _refuse(request, "DeletePolicy", [services.policy_resource(policy)])
    services.policy_delete(actor=Actor.from_request(request), policy=policy)
    return _done(request, f"Policy {policy.name} deleted.", reverse("iam:policies"))
