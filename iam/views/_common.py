"""What the IAM console views share: reading rights, refusals, the page, and the answer to an action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import trigger_client_event

from core.http import region_template
from core.paging import paginate_table
from iam.http import ConsoleRequest
from iam.models import Organization
from iam.permissions import forbidden, permission_required, request_may

IAM_FORBIDDEN = "iam/403.html"
CHANGED = "iam-changed"  # the HX-Trigger event a list region reloads itself on


def iam_read(method: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Reading IAM needs `iam:read` (IAMReadOnly, IAMManager, OrganizationManager, or ownership)."""
    return permission_required("iam:read", method=method, template_name=IAM_FORBIDDEN)


def _organization(request: ConsoleRequest) -> Organization:
    if request.organization is None:
        raise Http404("You belong to no organization.")
    return request.organization


def _refuse(
    request: ConsoleRequest,
    method: str,
    resources: list[dict[str, Any]] | None = None,
    *,
    action: str = "iam:write",
) -> HttpResponse:
    """A refusal: recorded as a 403 event under the Scaleway method attempted, and a 403 page."""
    return forbidden(
        request,
        action,
        method=method,
        resources=resources,
        template_name=IAM_FORBIDDEN,
        extra_context={"nav": "iam"},
    )


def _may_write(request: ConsoleRequest) -> bool:
    return request_may(request, "iam:write")


def _done(request: ConsoleRequest, message: str, url: str) -> HttpResponse:
    """After an action: htmx gets 204 + HX-Trigger (the region reloads itself); a plain form, a redirect."""
    if request.htmx:
        return trigger_client_event(HttpResponse(status=204), CHANGED)
    messages.success(request, message)
    return redirect(url)


def _page(
    request: ConsoleRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """The whole page, or only the region htmx asked for when the template has it (GET only: a
    form re-rendered with its errors is the whole page)."""
    if request.method in ("GET", "HEAD"):
        template = region_template(request, template)
    context.setdefault("nav", "iam")
    context.setdefault("may_write", _may_write(request))
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request, HX-Target, Cookie"
    return response


def _table(request: ConsoleRequest, table_class: type, data: Any, per_page: int = 50) -> Any:
    return paginate_table(request, table_class(data), per_page=per_page)
