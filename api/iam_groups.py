"""IAM API v1alpha1: groups (list, create, get, update, delete) and their members (SetGroupMembers,
AddGroupMember, AddGroupMembers, RemoveGroupMember). Wire shapes of Scaleway's (reference §8.5).

Writes go through `iam.services`, as the console's do: members must be members of the
organization (users) or its own (applications), and each write records the console's event.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpResponse, JsonResponse

from api.declare import Args, Body, Field, PathParam, Query, component
from api.http import Params, not_found
from api.iam import PAGE, _page, iam_operation
from api.iam_fields import (
    NAME_MAX,
    TAGS_FIELD,
    UUIDS,
    body_uuids,
    description_field,
    get_or_404,
    name_field,
    path_resources,
    query_uuids,
    refused,
)
from api.schemas import INTEGER, STRING, TIMESTAMP, UUID, Schema, array, closed
from audit.services import Actor
from core.time import iso
from iam.http import ApiRequest
from iam.models import Application, Group, User
from iam.selectors import member_users
from iam.services import (
    IamError,
    group_create,
    group_delete,
    group_member_add,
    group_member_remove,
    group_members_add,
    group_members_set,
    group_update,
)

GROUP_ORDER = {
    "created_at_asc": ("created_at", "pk"),
    "created_at_desc": ("-created_at", "-pk"),
    "updated_at_asc": ("updated_at", "pk"),
    "updated_at_desc": ("-updated_at", "-pk"),
    "name_asc": ("name", "pk"),
    "name_desc": ("-name", "-pk"),
}
BOOLEAN: Schema = {"type": "boolean"}
GROUP_PATH = PathParam("group_id", UUID)
ONE_MEMBER = "Exactly one of user_id and application_id."


def _groups(request: ApiRequest) -> QuerySet[Group]:
    return Group.objects.filter(organization=request.organization).prefetch_related(
        Prefetch("users", queryset=User.objects.only("pk").order_by("pk")),
        Prefetch("applications", queryset=Application.objects.only("pk").order_by("pk")),
    )


def group_json(group: Group) -> dict[str, Any]:
    return {
        "id": str(group.pk),
        "organization_id": str(group.organization_id),
        "name": group.name,
        "description": group.description,
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
        "user_ids": [str(u.pk) for u in group.users.all()],
        "application_ids": [str(a.pk) for a in group.applications.all()],
        "tags": [],
        "editable": True,
        "deletable": True,
        "managed": False,
        "all_users": False,
        "all_applications": False,
    }


GROUP = component(
    "Group",
    closed(
        {
            "id": UUID,
            "organization_id": UUID,
            "name": STRING,
            "description": STRING,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "user_ids": array(UUID),
            "application_ids": array(UUID),
            "tags": array(STRING),
            "editable": BOOLEAN,
            "deletable": BOOLEAN,
            "managed": BOOLEAN,
            "all_users": BOOLEAN,
            "all_applications": BOOLEAN,
        },
        required=["id", "organization_id", "name", "user_ids", "application_ids"],
    ),
)


def _answer(request: ApiRequest, group: Group) -> HttpResponse:
    return JsonResponse(group_json(_groups(request).get(pk=group.pk)))


@iam_operation(
    "GET",
    "ListGroups",
    summary="List the organization's groups",
    query=[
        *PAGE,
        Query.enum("order_by", GROUP_ORDER, default="created_at_asc"),
        Query.string("name", max_length=NAME_MAX),
        query_uuids("application_ids"),
        query_uuids("user_ids"),
        query_uuids("group_ids"),
        Query.string("tag", max_length=NAME_MAX),
    ],
    response=component(
        "ListGroupsResponse",
        closed({"groups": array(GROUP), "total_count": INTEGER}, required=["groups", "total_count"]),
    ),
)
def list_groups(request: ApiRequest, args: Args) -> HttpResponse:
    qs = _groups(request)
    if args["name"]:
        qs = qs.filter(name__icontains=args["name"])
    if args["user_ids"] or args["application_ids"]:
        members = Q(users__in=args["user_ids"]) | Q(applications__in=args["application_ids"])
        qs = qs.filter(pk__in=Group.objects.filter(members).values("pk"))
    if args["group_ids"]:
        qs = qs.filter(pk__in=args["group_ids"])
    if args["tag"]:  # no group has tags
        qs = qs.none()
    qs = qs.order_by(*GROUP_ORDER[args["order_by"]])
    groups = [group_json(g) for g in _page(qs, args)]
    return JsonResponse({"groups": groups, "total_count": qs.count()})


@iam_operation(
    "POST",
    "CreateGroup",
    summary="Create a group (audited as CreateGroup)",
    body=Body(
        "CreateGroupRequest",
        [name_field(required=True), description_field(), TAGS_FIELD],
        required=["name"],
    ),
    response=GROUP,
)
def create_group(request: ApiRequest, args: Args) -> HttpResponse:
    try:
        group = group_create(
            actor=Actor.of(request.principal, request=request),
            organization=request.organization,
            name=args["name"],
            description=args["description"] or "",
        )
    except IamError as error:  # the name is taken, whatever its case
        raise refused("name", str(error)) from None
    return _answer(request, group)


@iam_operation("GET", "GetGroup", summary="Get one group", path=[GROUP_PATH], response=GROUP)
def get_group(request: ApiRequest, args: Args, group_id: str) -> HttpResponse:
    return JsonResponse(group_json(get_or_404(_groups(request), "group", group_id)))


def _the_group(request: ApiRequest, args: Args, params: Params, group_id: str) -> None:
    """The group (not_found before any invalid argument)."""
    args["group"] = get_or_404(_groups(request), "group", group_id)


@iam_operation(
    "PATCH",
    "UpdateGroup",
    summary="Rename a group or change its description (audited as UpdateGroup)",
    body=Body(
        "UpdateGroupRequest",
        [name_field(required=False), description_field(), TAGS_FIELD],
        extra={"description": "What is left out is kept."},
    ),
    path=[GROUP_PATH],
    resources=path_resources("iam_group"),
    validate=_the_group,
    response=GROUP,
)
def update_group(request: ApiRequest, args: Args, group_id: str) -> HttpResponse:
    group: Group = args["group"]
    try:
        group_update(
            actor=Actor.of(request.principal, request=request),
            group=group,
            name=args["name"] or group.name,
            description=group.description if args["description"] is None else args["description"],
        )
    except IamError as error:  # the new name is another group's, whatever its case
        raise refused("name", str(error)) from None
    return _answer(request, group)


@iam_operation(
    "DELETE",
    "DeleteGroup",
    summary="Delete a group and the policies it holds (audited as DeleteGroup)",
    path=[GROUP_PATH],
    resources=path_resources("iam_group"),
    response=None,
    status=204,
)
def delete_group(request: ApiRequest, args: Args, group_id: str) -> HttpResponse:
    group = get_or_404(_groups(request), "group", group_id)
    group_delete(actor=Actor.of(request.principal, request=request), group=group)
    return HttpResponse(status=204)


# --- members -----------------------------------------------------------------------------------


def _members(request: ApiRequest, args: Args) -> tuple[list[User], list[Application]]:
    """args' user_ids and application_ids as the organization's members and applications; any
    other id is not found, exactly as an id that exists nowhere."""
    organization = request.organization
    users = list(member_users(organization=organization).filter(pk__in=args["user_ids"]))
    applications = list(Application.objects.filter(organization=organization, pk__in=args["application_ids"]))
    for resource, wanted, found in (
        ("user", args["user_ids"], users),
        ("application", args["application_ids"], applications),
    ):
        missing = set(wanted) - {o.pk for o in found}
        if missing:
            raise not_found(resource, str(min(missing)))
    return users, applications


def _check_members(request: ApiRequest, args: Args, params: Params, group_id: str) -> None:
    _the_group(request, args, params, group_id)
    args["users"], args["applications"] = _members(request, args)


MEMBERS = [body_uuids("user_ids"), body_uuids("application_ids")]
SET_MEMBERS = [body_uuids("user_ids", required=True), body_uuids("application_ids", required=True)]


def _check_new_members(request: ApiRequest, args: Args, params: Params, group_id: str) -> None:
    if params.data.get("user_ids") is None and params.data.get("application_ids") is None:
        params.error("user_ids", "required", "give user_ids or application_ids")
    _check_members(request, args, params, group_id)


@iam_operation(
    "PUT",
    "SetGroupMembers",
    summary="Make these exactly the group's members (audited as SetGroupMembers)",
    path=[GROUP_PATH],
    body=Body("SetGroupMembersRequest", SET_MEMBERS, required=["user_ids", "application_ids"]),
    resources=path_resources("iam_group"),
    validate=_check_members,
    response=GROUP,
)
def set_group_members(request: ApiRequest, args: Args, group_id: str) -> HttpResponse:
    try:
        group_members_set(
            actor=Actor.of(request.principal, request=request),
            group=args["group"],
            users=args["users"],
            applications=args["applications"],
        )
    except IamError as error:
        raise refused("user_ids", str(error)) from None
    return _answer(request, args["group"])


@iam_operation(
    "POST",
    "AddGroupMembers",
    summary="Add users and applications to a group (audited as AddGroupMembers)",
    path=[GROUP_PATH],
    body=Body(
        "AddGroupMembersRequest",
        MEMBERS,
        required_body=True,
        extra={
            "anyOf": [
                {"required": [name], "properties": {name: UUIDS}} for name in ("user_ids", "application_ids")
            ]
        },
    ),
    resources=path_resources("iam_group"),
    validate=_check_new_members,
    response=GROUP,
)
def add_group_members(request: ApiRequest, args: Args, group_id: str) -> HttpResponse:
    if not args["users"] and not args["applications"]:  # nothing to add: nothing to record
        return _answer(request, args["group"])
    try:
        group_members_add(
            actor=Actor.of(request.principal, request=request),
            group=args["group"],
            users=args["users"],
            applications=args["applications"],
        )
    except IamError as error:
        raise refused("user_ids", str(error)) from None
    return _answer(request, args["group"])


def _check_member(request: ApiRequest, args: Args, params: Params, group_id: str) -> None:
    """One member: a member of the organization (to add) or of the group (to remove)."""
    _the_group(request, args, params, group_id)
    user_id, application_id = args["user_id"], args["application_id"]
    if (user_id is None) == (application_id is None):
        params.error("user_id", "required", ONE_MEMBER)
        return
    args["user_ids"] = [user_id] if user_id else []
    args["application_ids"] = [application_id] if application_id else []
    users, applications = _members(request, args)
    args["member"] = (users or applications or [None])[0]


ONE_MEMBER_BODY = {
    "description": ONE_MEMBER,
    "oneOf": [
        {"required": ["user_id"], "properties": {"user_id": UUID}},
        {"required": ["application_id"], "properties": {"application_id": UUID}},
    ],
}


@iam_operation(
    "POST",
    "AddGroupMember",
    summary="Add a user or an application to a group (audited as AddGroupMember)",
    path=[GROUP_PATH],
    body=Body(
        "AddGroupMemberRequest",
        [Field.uuid("user_id"), Field.uuid("application_id")],
        required_body=True,
        extra=ONE_MEMBER_BODY,
    ),
    resources=path_resources("iam_group"),
    validate=_check_member,
    response=GROUP,
)
def add_group_member(request: ApiRequest, args: Args, group_id: str) -> HttpResponse:
    try:
        group_member_add(
            actor=Actor.of(request.principal, request=request), group=args["group"], member=args["member"]
        )
    except IamError as error:
        raise refused("user_id", str(error)) from None
    return _answer(request, args["group"])


def _check_leaving(request: ApiRequest, args: Args, params: Params, group_id: str) -> None:
    """Only a member of this group can leave it (a removed member of the organization included),
    never any account by id: the console's GroupMemberRemoveForm rule. A member or an application
    of the organization that is not in the group has nothing to leave: the group is answered as
    it is, and nothing is recorded."""
    _the_group(request, args, params, group_id)
    group: Group = args["group"]
    user_id, application_id = args["user_id"], args["application_id"]
    if (user_id is None) == (application_id is None):
        params.error("user_id", "required", ONE_MEMBER)
        return
    member: User | Application | None
    if user_id is not None:
        member = group.users.filter(pk=user_id).first()
    else:
        member = group.applications.filter(pk=application_id).first()
    if member is None:  # not in the group: the organization's (nothing to do) or not found
        args["user_ids"] = [user_id] if user_id else []
        args["application_ids"] = [application_id] if application_id else []
        _members(request, args)
    args["member"] = member


@iam_operation(
    "POST",
    "RemoveGroupMember",
    summary="Remove a user or an application from a group (audited as RemoveGroupMember)",
    path=[GROUP_PATH],
    body=Body(
        "RemoveGroupMemberRequest",
        [Field.uuid("user_id"), Field.uuid("application_id")],
        required_body=True,
        extra=ONE_MEMBER_BODY,
    ),
    resources=path_resources("iam_group"),
    validate=_check_leaving,
    response=GROUP,
)
def remove_group_member(request: ApiRequest, args: Args, group_id: str) -> HttpResponse:
    if args["member"] is None:
        return _answer(request, args["group"])
    group_member_remove(
        actor=Actor.of(request.principal, request=request), group=args["group"], member=args["member"]
    )
    return _answer(request, args["group"])
