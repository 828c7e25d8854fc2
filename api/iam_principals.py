"""IAM API v1alpha1: applications (list, create, get, update, delete) and users (list, get, delete,
and create, which invites). Wire shapes of Scaleway's (reference §8.5).

Users are the organization's members: the owner and the active members. `POST /users` with an
`email` is the console's invitation (`user_invite`, recorded as CreateUser): it answers a user in
status `invitation_pending` whose id is the invitation's (never the account behind the address,
which is not the inviting organization's to learn); `GET` and `DELETE` take that id until the
invitation is answered, and `DELETE` cancels it, as the console's Cancel does. `DELETE` of a
member removes them from the organization (`member_remove`, DeleteUser); the owner cannot be.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from api.declare import Args, Body, Field, PathParam, Query, component
from api.http import UUID_RE, ApiError, Params, not_found
from api.iam import PAGE, _page, iam_operation
from api.iam_fields import (
    NAME_MAX,
    TAGS_FIELD,
    description_field,
    get_or_404,
    name_field,
    path_resources,
    query_uuids,
    refused,
)
from api.schemas import INTEGER, NULLABLE_TIMESTAMP, STRING, TIMESTAMP, UUID, Schema, array, closed
from audit.services import Actor
from core.time import iso
from iam.http import ApiRequest
from iam.models import Application, Invitation, Membership, User
from iam.services import (
    IamError,
    application_create,
    application_delete,
    application_update,
    invitation_cancel,
    member_remove,
    user_invite,
)

BOOLEAN: Schema = {"type": "boolean"}
APPLICATION_ORDER = {
    "created_at_asc": ("created_at", "pk"),
    "created_at_desc": ("-created_at", "-pk"),
    "updated_at_asc": ("updated_at", "pk"),
    "updated_at_desc": ("-updated_at", "-pk"),
    "name_asc": ("name", "pk"),
    "name_desc": ("-name", "-pk"),
}
USER_ORDER = {
    "created_at_asc": ("date_joined", "pk"),
    "created_at_desc": ("-date_joined", "-pk"),
    "updated_at_asc": ("date_joined", "pk"),  # no update date is kept: the join date stands in
    "updated_at_desc": ("-date_joined", "-pk"),
    "email_asc": ("email", "pk"),
    "email_desc": ("-email", "-pk"),
    "last_login_asc": ("last_login", "pk"),
    "last_login_desc": ("-last_login", "-pk"),
    "username_asc": ("username", "pk"),
    "username_desc": ("-username", "-pk"),
}
USER_TYPES = ("owner", "member")
APPLICATION_PATH = PathParam("application_id", UUID)
USER_PATH = PathParam("user_id", UUID)
EMAIL_MAX = 254


# --- applications ------------------------------------------------------------------------------


def _applications(request: ApiRequest) -> QuerySet[Application]:
    return Application.objects.filter(organization=request.organization).annotate(
        nb_api_keys=Count("api_keys")
    )


def application_json(application: Application) -> dict[str, Any]:
    return {
        "id": str(application.pk),
        "name": application.name,
        "description": application.description,
        "organization_id": str(application.organization_id),
        "created_at": iso(application.created_at),
        "updated_at": iso(application.updated_at),
        "editable": True,
        "deletable": True,
        "managed": False,
        "nb_api_keys": application.nb_api_keys,  # type: ignore[attr-defined]  # annotated
        "tags": [],
    }


APPLICATION = component(
    "Application",
    closed(
        {
            "id": UUID,
            "name": STRING,
            "description": STRING,
            "organization_id": UUID,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "editable": BOOLEAN,
            "deletable": BOOLEAN,
            "managed": BOOLEAN,
            "nb_api_keys": INTEGER,
            "tags": array(STRING),
        },
        required=["id", "name", "organization_id", "nb_api_keys"],
    ),
)


@iam_operation(
    "GET",
    "ListApplications",
    summary="List the organization's applications",
    query=[
        *PAGE,
        Query.enum("order_by", APPLICATION_ORDER, default="created_at_asc"),
        Query.string("name", max_length=NAME_MAX),
        Query.boolean("editable"),
        query_uuids("application_ids"),
        Query.string("tag", max_length=NAME_MAX),
    ],
    response=component(
        "ListApplicationsResponse",
        closed(
            {"applications": array(APPLICATION), "total_count": INTEGER},
            required=["applications", "total_count"],
        ),
    ),
)
def list_applications(request: ApiRequest, args: Args) -> HttpResponse:
    qs = _applications(request)
    if args["name"]:
        qs = qs.filter(name__icontains=args["name"])
    if args["application_ids"]:
        qs = qs.filter(pk__in=args["application_ids"])
    if args["editable"] is False or args["tag"]:  # every application is editable; none has tags
        qs = qs.none()
    qs = qs.order_by(*APPLICATION_ORDER[args["order_by"]])
    applications = [application_json(a) for a in _page(qs, args)]
    return JsonResponse({"applications": applications, "total_count": qs.count()})


@iam_operation(
    "POST",
    "CreateApplication",
    summary="Create an application (audited as CreateApplication)",
    body=Body(
        "CreateApplicationRequest",
        [name_field(required=True), description_field(), TAGS_FIELD],
        required=["name"],
    ),
    response=APPLICATION,
)
def create_application(request: ApiRequest, args: Args) -> HttpResponse:
    application = application_create(
        actor=Actor.of(request.principal, request=request),
        organization=request.organization,
        name=args["name"],
        description=args["description"] or "",
    )
    return JsonResponse(application_json(_applications(request).get(pk=application.pk)))


@iam_operation(
    "GET", "GetApplication", summary="Get one application", path=[APPLICATION_PATH], response=APPLICATION
)
def get_application(request: ApiRequest, args: Args, application_id: str) -> HttpResponse:
    return JsonResponse(application_json(get_or_404(_applications(request), "application", application_id)))


def _the_application(request: ApiRequest, args: Args, params: Params, application_id: str) -> None:
    args["application"] = get_or_404(_applications(request), "application", application_id)


@iam_operation(
    "PATCH",
    "UpdateApplication",
    summary="Rename an application or change its description (audited as UpdateApplication)",
    path=[APPLICATION_PATH],
    body=Body(
        "UpdateApplicationRequest",
        [name_field(required=False), description_field(), TAGS_FIELD],
        extra={"description": "What is left out is kept."},
    ),
    resources=path_resources("iam_application"),
    validate=_the_application,
    response=APPLICATION,
)
def update_application(request: ApiRequest, args: Args, application_id: str) -> HttpResponse:
    application: Application = args["application"]
    application_update(
        actor=Actor.of(request.principal, request=request),
        application=application,
        name=args["name"] or application.name,
        description=application.description if args["description"] is None else args["description"],
    )
    return JsonResponse(application_json(_applications(request).get(pk=application.pk)))


@iam_operation(
    "DELETE",
    "DeleteApplication",
    summary="Delete an application, its API keys and its policies (audited as DeleteApplication)",
    path=[APPLICATION_PATH],
    resources=path_resources("iam_application"),
    response=None,
    status=204,
)
def delete_application(request: ApiRequest, args: Args, application_id: str) -> HttpResponse:
    application = get_or_404(_applications(request), "application", application_id)
    application_delete(actor=Actor.of(request.principal, request=request), application=application)
    return HttpResponse(status=204)


# --- users -------------------------------------------------------------------------------------


def _users(request: ApiRequest) -> QuerySet[User]:
    """The owner and the active members: by primary key and by the memberships' index."""
    organization = request.organization
    members = Membership.objects.active().filter(organization=organization).values("user_id")
    return User.objects.filter(Q(pk=organization.owner_id) | Q(pk__in=members), is_active=True)


def user_json(request: ApiRequest, user: User) -> dict[str, Any]:
    owner = request.organization.owner_id == user.pk
    return {
        "id": str(user.pk),
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone_number": "",
        "locale": "",
        "organization_id": str(request.organization.pk),
        "created_at": iso(user.date_joined),
        "updated_at": iso(user.date_joined),
        "last_login_at": iso(user.last_login),
        "deletable": not owner,
        "type": "owner" if owner else "member",
        "mfa": False,
        "account_root_user_id": str(request.organization.owner_id),
        "tags": [],
        "locked": False,
        "two_factor_enabled": False,
        "status": "activated",
    }


def invitee_json(request: ApiRequest, invitation: Invitation) -> dict[str, Any]:
    """A user invited and not yet in: what the inviter typed, under the invitation's id."""
    return {
        "id": str(invitation.pk),
        "email": invitation.email,
        "username": "",
        "first_name": "",
        "last_name": "",
        "phone_number": "",
        "locale": "",
        "organization_id": str(request.organization.pk),
        "created_at": iso(invitation.created_at),
        "updated_at": iso(invitation.created_at),
        "last_login_at": None,
        "deletable": True,
        "type": "member",
        "mfa": False,
        "account_root_user_id": str(request.organization.owner_id),
        "tags": [],
        "locked": False,
        "two_factor_enabled": False,
        "status": "invitation_pending",
    }


USER = component(
    "User",
    closed(
        {
            "id": UUID,
            "email": STRING,
            "username": STRING,
            "first_name": STRING,
            "last_name": STRING,
            "phone_number": STRING,
            "locale": STRING,
            "organization_id": UUID,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "last_login_at": NULLABLE_TIMESTAMP,
            "deletable": BOOLEAN,
            "type": {"type": "string", "enum": ["unknown_type", *USER_TYPES]},
            "mfa": BOOLEAN,
            "account_root_user_id": UUID,
            "tags": array(STRING),
            "locked": BOOLEAN,
            "two_factor_enabled": BOOLEAN,
            "status": {"type": "string", "enum": ["unknown_status", "invitation_pending", "activated"]},
        },
        required=["id", "email", "organization_id", "type", "status"],
    ),
)


@iam_operation(
    "GET",
    "ListUsers",
    summary="List the organization's members (the owner included)",
    query=[
        *PAGE,
        Query.enum("order_by", USER_ORDER, default="created_at_asc"),
        query_uuids("user_ids"),
        Query.boolean("mfa"),
        Query.string("tag", max_length=NAME_MAX),
        Query.enum("type", USER_TYPES, unknown="unknown_type"),
    ],
    response=component(
        "ListUsersResponse",
        closed({"users": array(USER), "total_count": INTEGER}, required=["users", "total_count"]),
    ),
)
def list_users(request: ApiRequest, args: Args) -> HttpResponse:
    qs = _users(request)
    if args["user_ids"]:
        qs = qs.filter(pk__in=args["user_ids"])
    if args["mfa"] or args["tag"]:  # no user has MFA or tags here
        qs = qs.none()
    if args["type"] == "owner":
        qs = qs.filter(pk=request.organization.owner_id)
    elif args["type"] == "member":
        qs = qs.exclude(pk=request.organization.owner_id)
    qs = qs.order_by(*USER_ORDER[args["order_by"]])
    users = [user_json(request, u) for u in _page(qs, args)]
    return JsonResponse({"users": users, "total_count": qs.count()})


def _pending(request: ApiRequest, user_id: str) -> Invitation | None:
    return Invitation.objects.filter(
        organization=request.organization,
        pk=user_id,
        status=Invitation.Status.PENDING,
        expires_at__gt=timezone.now(),
    ).first()


def _user_or_invitee(request: ApiRequest, user_id: str) -> User | Invitation:
    user = _users(request).filter(pk=user_id).first() if _is_uuid(user_id) else None
    found: User | Invitation | None = user or (_pending(request, user_id) if _is_uuid(user_id) else None)
    if found is None:
        raise not_found("user", user_id)
    return found


def _is_uuid(value: str) -> bool:
    return bool(UUID_RE.fullmatch(value))


def _user_answer(request: ApiRequest, found: User | Invitation) -> HttpResponse:
    if isinstance(found, Invitation):
        return JsonResponse(invitee_json(request, found))
    return JsonResponse(user_json(request, found))


@iam_operation(
    "GET", "GetUser", summary="Get one member, or one invited user", path=[USER_PATH], response=USER
)
def get_user(request: ApiRequest, args: Args, user_id: str) -> HttpResponse:
    return _user_answer(request, _user_or_invitee(request, user_id))


@iam_operation(
    "POST",
    "CreateUser",
    summary="Invite a user by e-mail (the console's invitation; audited as CreateUser)",
    body=Body(
        "CreateUserRequest",
        [
            Field.custom(
                "email",
                {"type": "string", "format": "email", "maxLength": EMAIL_MAX},
                lambda p: p.string("email", max_length=EMAIL_MAX, required=True, single_line=True),
            ),
            TAGS_FIELD,
        ],
        required=["email"],
        extra={"description": "Guests only: `member` (a user with a password set here) is refused."},
    ),
    validate=lambda request, args, params: _check_email(args, params),
    response=USER,
)
def create_user(request: ApiRequest, args: Args) -> HttpResponse:
    try:
        invitation, _ = user_invite(
            actor=Actor.of(request.principal, request=request),
            organization=request.organization,
            email=args["email"],
            invited_by=request.principal if isinstance(request.principal, User) else None,
        )
    except IamError as error:
        raise refused("email", str(error)) from None
    return JsonResponse(invitee_json(request, invitation))


def _check_email(args: Args, params: Params) -> None:
    """An address as the console's InviteForm takes it; `member` is not offered there either."""
    if params.data.get("member") is not None:
        params.error("member", "constraint", "invite a user by email; members cannot be created here")
    if args["email"] is not None:
        try:
            args["email"] = forms.EmailField(max_length=EMAIL_MAX).clean(args["email"])
        except forms.ValidationError:
            params.error("email", "format", "email must be an e-mail address")


def owner_locked(user_id: str) -> ApiError:
    """The owner is in the organization for good: Scaleway's `resource_locked` (403)."""
    return ApiError(
        403,
        {
            "message": "The owner of the organization cannot be removed.",
            "type": "resource_locked",
            "resource": "user",
            "resource_id": user_id,
        },
    )


@iam_operation(
    "DELETE",
    "DeleteUser",
    summary="Remove a member from the organization, or cancel an invitation (audited as DeleteUser)",
    path=[USER_PATH],
    resources=path_resources("iam_user"),
    response=None,
    status=204,
)
def delete_user(request: ApiRequest, args: Args, user_id: str) -> HttpResponse:
    found = _user_or_invitee(request, user_id)
    actor = Actor.of(request.principal, request=request)
    if isinstance(found, Invitation):
        invitation_cancel(actor=actor, invitation=found)
        return HttpResponse(status=204)
    membership = (
        Membership.objects.active()
        .select_related("user", "organization")
        .filter(organization=request.organization, user=found)
        .first()
    )
    if membership is None or request.organization.owner_id == found.pk:
        raise owner_locked(user_id)
    try:
        member_remove(actor=actor, membership=membership)
    except IamError as error:
        raise refused("user_id", str(error)) from None
    return HttpResponse(status=204)
