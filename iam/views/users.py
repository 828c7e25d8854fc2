"""IAM ▸ Users: members, invitations, and the invitation link an invitee follows."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from audit.services import Actor
from iam import selectors, services
from iam.forms import InvitationAcceptForm, InviteForm
from iam.http import ConsoleRequest
from iam.middleware import SESSION_ORGANIZATION
from iam.models import Invitation, Membership
from iam.tables import InvitationTable, MemberTable
from iam.views._common import _done, _may_write, _organization, _page, _refuse, _table, iam_read


def _users_page(request: ConsoleRequest, form: InviteForm | None = None, status: int = 200) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/user_list.html",
        {
            "tab": "users",
            "table": _table(request, MemberTable, selectors.member_list(organization=organization)),
            "invitations": InvitationTable(selectors.invitation_list(organization=organization)),
            "form": form or InviteForm(),
        },
        status=status,
    )


@require_safe
@login_required
@iam_read("ListUsers")
def user_list(request: ConsoleRequest) -> HttpResponse:
    return _users_page(request)


@require_POST
@login_required
def user_invite(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreateUser")
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            services.user_invite(
                actor=Actor.from_request(request),
                organization=organization,
                email=form.cleaned_data["email"],
                invited_by=request.user,
            )
        except services.IamError as error:
            form.add_error("email", str(error))
        else:
            return _done(request, f"Invitation sent to {form.cleaned_data['email']}.", reverse("iam:users"))
    return _users_page(request, form)


@require_POST
@login_required
def invitation_cancel(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    invitation = get_object_or_404(
        Invitation, organization=organization, pk=pk, status=Invitation.Status.PENDING
    )
    if not _may_write(request):
        return _refuse(request, "DeleteUser", [services.invitation_resource(invitation)])
    services.invitation_cancel(actor=Actor.from_request(request), invitation=invitation)
    return _done(request, f"Invitation to {invitation.email} cancelled.", reverse("iam:users"))


@require_POST
@login_required
def member_remove(request: ConsoleRequest, user_id: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    membership = get_object_or_404(
        Membership.objects.active().select_related("user", "organization"),
        organization=organization,
        user_id=user_id,
    )
    if not _may_write(request):
        return _refuse(request, "DeleteUser", [services.user_resource(membership.user)])
    try:
        services.member_remove(actor=Actor.from_request(request), membership=membership)
    except services.IamError as error:
        messages.error(request, str(error))
        return redirect("iam:users")
    return _done(
        request, f"{membership.user.email} was removed from {organization.name}.", reverse("iam:users")
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def invitation_respond(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link: accept (choosing a password for a new account) or decline. The token is the proof."""
    invitation = services.invitation_for_token(token)
    if invitation is None:
        raise Http404("No such invitation.")
    user = invitation.user
    needs_password = user is not None and not user.has_usable_password()
    form = InvitationAcceptForm(user=user) if needs_password and user else None
    context: dict[str, Any] = {"invitation": invitation, "form": form, "needs_password": needs_password}
    if request.method == "POST" and invitation.is_open and user is not None:
        request_id = getattr(request, "request_id", "")
        if request.POST.get("decision") == "reject":
            services.invitation_reject(invitation=invitation, request_id=request_id)
            messages.info(request, f"You declined the invitation to {invitation.organization.name}.")
            return redirect("iam:invitation", token=token)
        if request.POST.get("decision") == "accept":
            if needs_password:
                form = InvitationAcceptForm(request.POST, user=user)
                context["form"] = form
                if not form.is_valid():
                    return render(request, "iam/invitation.html", context)
            elif not (request.user.is_authenticated and request.user.pk == user.pk):
                # An existing account proves itself by signing in first.
                return redirect(f"{reverse('login')}?next={request.path}")
            user = services.invitation_accept(
                invitation=invitation,
                password=form.cleaned_data["password1"] if form is not None else None,
                request_id=request_id,
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_ORGANIZATION] = str(invitation.organization_id)
            messages.success(request, f"Welcome to {invitation.organization.name}.")
            return redirect("home")
    return render(request, "iam/invitation.html", context)
