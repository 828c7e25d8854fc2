"""IAM ▸ Groups, and their members."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from audit.services import Actor
from iam import selectors, services
from iam.forms import GroupForm, GroupMemberForm, GroupMemberRemoveForm
from iam.http import ConsoleRequest
from iam.models import Group
from iam.tables import GroupTable
from iam.views._common import _done, _may_write, _organization, _page, _refuse, _table, iam_read


def _groups_page(request: ConsoleRequest, form: GroupForm | None = None) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/group_list.html",
        {
            "tab": "groups",
            "table": _table(request, GroupTable, selectors.group_list(organization=organization)),
            "form": form or GroupForm(),
        },
    )


@require_safe
@login_required
@iam_read("ListGroups")
def group_list(request: ConsoleRequest) -> HttpResponse:
    return _groups_page(request)


@require_POST
@login_required
def group_create(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreateGroup")
    form = GroupForm(request.POST)
    if not form.is_valid():
        return _groups_page(request, form)
    try:
        group = services.group_create(
            actor=Actor.from_request(request), organization=organization, **form.cleaned_data
        )
    except services.IamError as error:
        form.add_error("name", str(error))
        return _groups_page(request, form)
    return _done(request, f"Group {group.name} created.", reverse("iam:groups"))


def _group_page(request: ConsoleRequest, group: Group, form: GroupMemberForm | None = None) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/group_detail.html",
        {
            "tab": "groups",
            "group": group,
            "users": group.users.order_by("email"),
            "applications": group.applications.order_by("name"),
            "form": form or GroupMemberForm(organization=organization),
        },
    )


@require_safe
@login_required
@iam_read("GetGroup")
def group_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    group = get_object_or_404(Group, organization=_organization(request), pk=pk)
    return _group_page(request, group)


@require_POST
@login_required
def group_delete(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    group = get_object_or_404(
        Group.objects.select_related("organization"), organization=_organization(request), pk=pk
    )
    if not _may_write(request):
        return _refuse(request, "DeleteGroup", [services.group_resource(group)])
    services.group_delete(actor=Actor.from_request(request), group=group)
    return _done(request, f"Group {group.name} deleted.", reverse("iam:groups"))


@require_POST
@login_required
def group_member_add(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    group = get_object_or_404(Group.objects.select_related("organization"), organization=organization, pk=pk)
    if not _may_write(request):
        return _refuse(request, "AddGroupMember", [services.group_resource(group)])
    form = GroupMemberForm(request.POST, organization=organization)
    if form.is_valid():
        try:
            services.group_member_add(
                actor=Actor.from_request(request), group=group, member=form.cleaned_data["member"]
            )
        except services.IamError as error:
            form.add_error("member", str(error))
        else:
            return _done(request, f"Member added to {group.name}.", reverse("iam:group", args=[group.pk]))
    return _group_page(request, group, form)


@require_POST
@login_required
def group_member_remove(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    group = get_object_or_404(Group.objects.select_related("organization"), organization=organization, pk=pk)
    if not _may_write(request):
        return _refuse(request, "RemoveGroupMember", [services.group_resource(group)])
    form = GroupMemberRemoveForm(request.POST, group=group)
    if not form.is_valid():
        messages.error(request, "Choose a member of the group.")
        return redirect("iam:group", pk=group.pk)
    services.group_member_remove(
        actor=Actor.from_request(request), group=group, member=form.cleaned_data["member"]
    )
    return _done(request, f"Member removed from {group.name}.", reverse("iam:group", args=[group.pk]))
