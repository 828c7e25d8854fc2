"""Writes to IAM. Every one of them records its audit event in the same transaction."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor, record
from iam.models import (
    APIKey,
    Application,
    Group,
    Invitation,
    Membership,
    Organization,
    Policy,
    Project,
    Rule,
    User,
    hash_secret,
)
from iam.permission_sets import CATALOGUE

logger = logging.getLogger(__name__)

IAM_PRODUCT = "iam"
IAM_SERVICE = "scaleway.iam.v1alpha1.Api"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def iam_record(
    *,
    actor: Actor,
    organization: Organization,
    method_name: str,
    resources: list[dict[str, Any]] | None = None,
    request_body: dict[str, Any] | None = None,
    status_code: int = 200,
) -> None:
    """Record an IAM action: product `iam`, locality `global` (shown in fr-par)."""
    record(
        organization_id=organization.pk,
        actor=actor,
        product_name=IAM_PRODUCT,
        service_name=IAM_SERVICE,
        method_name=method_name,
        locality="global",
        status_code=status_code,
        resources=resources or [],
        request_body=request_body or {},
    )


def api_key_resource(key: APIKey, *, deleted: bool = False) -> dict[str, Any]:
    now = _iso(timezone.now())
    return {
        "id": key.access_key,
        "type": "iam_api_key",
        "created_at": _iso(key.created_at),
        "updated_at": _iso(key.updated_at) or now,
        "deleted_at": now if deleted else None,
        "name": key.description or None,
    }


@transaction.atomic
def api_key_create(
    *,
    actor: Actor,
    organization: Organization,
    user: User | None = None,
    application: Application | None = None,
    description: str = "",
    default_project: Project | None = None,
    expires_at: datetime | None = None,
) -> tuple[APIKey, str]:
    """Create an API key for a user or an application. Returns the key and its secret.

    The secret (a UUID) is returned here once and never stored: only its SHA-256 is kept.
    """
    if (user is None) == (application is None):
        raise ValueError("An API key has exactly one bearer: a user or an application.")
    if application is not None and application.organization_id != organization.pk:
        raise ValueError("The application belongs to another organization.")
    if default_project is not None and default_project.organization_id != organization.pk:
        raise ValueError("The default project belongs to another organization.")
    secret_key = str(uuid.uuid4())
    key = APIKey.objects.create(
        secret_key_hash=hash_secret(secret_key),
        organization=organization,
        user=user,
        application=application,
        description=description,
        default_project=default_project,
        expires_at=expires_at,
        creation_ip=actor.source_ip,
    )
    body: dict[str, Any] = {"description": description}
    body["user_id" if user else "application_id"] = str(key.bearer_id)
    if default_project:
        body["default_project_id"] = str(default_project.pk)
    if expires_at:
        body["expires_at"] = _iso(expires_at)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateAPIKey",
        resources=[api_key_resource(key)],
        request_body=body,
    )
    return key, secret_key


@transaction.atomic
def api_key_delete(*, actor: Actor, key: APIKey) -> None:
    """Delete an API key; its later use fails authentication."""
    organization = key.organization
    resource = api_key_resource(key, deleted=True)
    key.delete()
    iam_record(
        actor=actor,
        organization=organization,
        method_name="DeleteAPIKey",
        resources=[resource],
        request_body={"access_key": resource["id"]},
    )


def api_key_authenticate(secret_key: str) -> APIKey | None:
    """The usable (unexpired) key whose secret this is, with its bearer and organization. One query."""
    try:
        uuid.UUID(secret_key)
    except (ValueError, AttributeError, TypeError):
        return None
    return (
        APIKey.objects.usable()
        .select_related("organization", "user", "application")
        .filter(secret_key_hash=hash_secret(secret_key))
        .first()
    )


# --- resources as the trail shows them ------------------------------------------------------------


def _resource(
    type_: str,
    id_: Any,
    name: str | None,
    *,
    created_at: datetime | None = None,
    deleted: bool = False,
    **info: Any,
) -> dict[str, Any]:
    now = _iso(timezone.now())
    resource: dict[str, Any] = {
        "id": str(id_),
        "type": type_,
        "created_at": _iso(created_at),
        "updated_at": now,
        "deleted_at": now if deleted else None,
        "name": name or None,
    }
    resource.update(info)
    return resource


def user_resource(user: User, *, deleted: bool = False) -> dict[str, Any]:
    return _resource(
        "iam_user",
        user.pk,
        user.email,
        created_at=user.date_joined,
        deleted=deleted,
        account_user_info={"email": user.email, "phone_number": None},
    )


def application_resource(application: Application, *, deleted: bool = False) -> dict[str, Any]:
    return _resource(
        "iam_application",
        application.pk,
        application.name,
        created_at=application.created_at,
        deleted=deleted,
    )


def group_resource(group: Group, *, deleted: bool = False) -> dict[str, Any]:
    return _resource("iam_group", group.pk, group.name, created_at=group.created_at, deleted=deleted)


def policy_resource(policy: Policy, *, deleted: bool = False) -> dict[str, Any]:
    return _resource("iam_policy", policy.pk, policy.name, created_at=policy.created_at, deleted=deleted)


# --- organizations (platform actions) ---------------------------------------------------------------

# The groups every new organization starts with, each with the policy that gives it its meaning.
DEFAULT_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Administrators", "Full access to Organization management", ("OrganizationManager",)),
    ("Project Managers", "Create and manage Projects", ("ProjectManager",)),
    ("Auditors", "Read the Audit Trail and IAM", ("AuditTrailReadOnly", "IAMReadOnly")),
)


@transaction.atomic
def organization_create(*, name: str, owner: User, request_id: str = "") -> Organization:
    """Create an organization owned by `owner`, with its three default groups and their policies.

    The groups and policies are created by the platform: their events name "Scaleway" as the
    principal (CreateGroup, CreatePolicy), as on Scaleway.
    """
    organization = Organization.objects.create(name=name, owner=owner)
    Membership.objects.create(organization=organization, user=owner)
    scaleway = Actor.system(request_id=request_id)
    for group_name, description, permission_sets in DEFAULT_GROUPS:
        group = Group.objects.create(organization=organization, name=group_name, description=description)
        iam_record(
            actor=scaleway,
            organization=organization,
            method_name="CreateGroup",
            resources=[group_resource(group)],
            request_body={
                "name": group_name,
                "description": description,
                "organization_id": str(organization.pk),
            },
        )
        policy_create(
            actor=scaleway,
            organization=organization,
            name=f"{group_name} policy",
            description=f"Default policy of the {group_name} group",
            principal=group,
            rules=[RuleSpec(permission_set_names=permission_sets)],
        )
    return organization


# --- users: invitations and removal ------------------------------------------------------------------

INVITATION_VALIDITY = timedelta(days=7)


class IamError(ValueError):
    """A write that the request cannot make; the message is meant for the user."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_member(organization: Organization, user: User) -> bool:
    return (
        organization.owner_id == user.pk
        or Membership.objects.active().filter(organization=organization, user=user).exists()
    )


@transaction.atomic
def user_invite(
    *, actor: Actor, organization: Organization, email: str, invited_by: User | None = None
) -> tuple[Invitation, str]:
    """Invite `email` into the organization and e-mail them a link. Returns the invitation and its token.

    An address without an account gets one now, without a usable password, as Scaleway creates
    a user in "invitation_pending" status (CreateUser). Only the token's hash is stored.
    """
    email = User.objects.normalize_email(email).strip()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None and is_member(organization, user):
        raise IamError(f"{email} is already a member of {organization.name}.")
    if Invitation.objects.filter(
        organization=organization,
        email__iexact=email,
        status=Invitation.Status.PENDING,
        expires_at__gt=timezone.now(),
    ).exists():
        raise IamError(f"{email} already has a pending invitation.")
    # A stale pending invitation (expired, not yet swept) makes way for the new one.
    Invitation.objects.filter(
        organization=organization, email__iexact=email, status=Invitation.Status.PENDING
    ).update(status=Invitation.Status.EXPIRED)
    created = user is None
    if user is None:
        user = User.objects.create_user(email=email, password=None)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        user=user,
        user_created=created,
        invited_by=invited_by,
        token_hash=_token_hash(token),
        expires_at=timezone.now() + INVITATION_VALIDITY,
    )
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateUser",
        resources=[user_resource(user)],
        request_body={"email": email, "organization_id": str(organization.pk)},
    )
    link = settings.SITE_URL + reverse("iam:invitation", args=[token])
    context = {"organization": organization, "invitation": invitation, "link": link, "invited_by": invited_by}
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to join {organization.name} on Audit Trail",
            message=render_to_string("iam/email/invitation.txt", context),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation, token


def invitation_for_token(token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization", "user", "invited_by")
        .filter(token_hash=_token_hash(token))
        .first()
    )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, password: str | None = None, request_id: str = "") -> User:
    """Accept: the platform ("Scaleway") adds the user to the organization (UpdateUser, activated).

    A user created for the invitation chooses their password here.
    """
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("user", "organization")
        .get(pk=invitation.pk)
    )
    if not invitation.is_open:
        raise IamError("This invitation is no longer valid.")
    user = invitation.user
    if user is None:  # the pending account was deleted meanwhile
        raise IamError("This invitation is no longer valid.")
    if password:
        user.set_password(password)
        user.save(update_fields=["password"])
    invitation.status = Invitation.Status.ACCEPTED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    if not is_member(invitation.organization, user):
        Membership.objects.create(organization=invitation.organization, user=user)
    iam_record(
        actor=Actor.system(request_id=request_id),
        organization=invitation.organization,
        method_name="UpdateUser",
        resources=[user_resource(user)],
        request_body={"user_id": str(user.pk), "status": "activated"},
    )
    return user


def _close_invitation(invitation: Invitation, status: str, request_id: str) -> None:
    invitation.status = status
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at"])
    user = invitation.user
    # The pending account goes away with its only invitation, as on Scaleway.
    if (
        user is not None
        and invitation.user_created
        and not user.has_usable_password()
        and not user.memberships.exists()
        and not user.owned_organizations.exists()
        and not user.invitations.filter(status=Invitation.Status.PENDING).exclude(pk=invitation.pk).exists()
    ):
        resource = user_resource(user, deleted=True)
        user.delete()
        iam_record(
            actor=Actor.system(request_id=request_id),
            organization=invitation.organization,
            method_name="DeleteUser",
            resources=[resource],
            request_body={"user_id": resource["id"]},
        )


@transaction.atomic
def invitation_reject(*, invitation: Invitation, request_id: str = "") -> None:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("user", "organization")
        .get(pk=invitation.pk)
    )
    if not invitation.is_open:
        raise IamError("This invitation is no longer valid.")
    _close_invitation(invitation, Invitation.Status.REJECTED, request_id)


def invitations_expire(*, now: datetime | None = None) -> int:
    """Close every pending invitation past its expiry (and delete the pending accounts). Idempotent."""
    now = now or timezone.now()
    count = 0
    for pk in Invitation.objects.filter(status=Invitation.Status.PENDING, expires_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            invitation = (
                Invitation.objects.select_for_update(of=("self",))
                .select_related("user", "organization")
                .get(pk=pk)
            )
            if invitation.status == Invitation.Status.PENDING:
                _close_invitation(invitation, Invitation.Status.EXPIRED, "")
                count += 1
    return count


@transaction.atomic
def invitation_cancel(*, actor: Actor, invitation: Invitation) -> None:
    """An administrator withdraws a pending invitation (DeleteUser for the pending account)."""
    if invitation.status != Invitation.Status.PENDING:
        raise IamError("Only a pending invitation can be cancelled.")
    _close_invitation(invitation, Invitation.Status.EXPIRED, actor.request_id)


@transaction.atomic
def member_remove(*, actor: Actor, membership: Membership) -> None:
    """Remove a member: the membership is kept with `removed_at`; their groups, policies and API keys
    in this organization go, so nothing they held still works (DeleteUser)."""
    organization = membership.organization
    user = membership.user
    if organization.owner_id == user.pk:
        raise IamError("The owner of the organization cannot be removed.")
    if not membership.is_active:
        raise IamError(f"{user.email} is no longer a member.")
    membership.removed_at = timezone.now()
    membership.save(update_fields=["removed_at"])
    for group in Group.objects.filter(organization=organization, users=user):
        group.users.remove(user)
    Policy.objects.filter(organization=organization, user=user).delete()
    for key in APIKey.objects.filter(organization=organization, user=user).select_related("organization"):
        api_key_delete(actor=actor, key=key)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="DeleteUser",
        resources=[user_resource(user, deleted=True)],
        request_body={"user_id": str(user.pk)},
    )


# --- applications ---------------------------------------------------------------------------------


@transaction.atomic
def application_create(
    *, actor: Actor, organization: Organization, name: str, description: str = ""
) -> Application:
    application = Application.objects.create(organization=organization, name=name, description=description)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateApplication",
        resources=[application_resource(application)],
        request_body={"name": name, "description": description, "organization_id": str(organization.pk)},
    )
    return application


@transaction.atomic
def application_update(
    *, actor: Actor, application: Application, name: str, description: str = ""
) -> Application:
    application.name = name
    application.description = description
    application.save(update_fields=["name", "description", "updated_at"])
    iam_record(
        actor=actor,
        organization=application.organization,
        method_name="UpdateApplication",
        resources=[application_resource(application)],
        request_body={"application_id": str(application.pk), "name": name, "description": description},
    )
    return application


@transaction.atomic
def application_delete(*, actor: Actor, application: Application) -> None:
    """Delete an application, its API keys and its policies."""
    organization = application.organization
    resource = application_resource(application, deleted=True)
    application.delete()
    iam_record(
        actor=actor,
        organization=organization,
        method_name="DeleteApplication",
        resources=[resource],
        request_body={"application_id": resource["id"]},
    )


# --- groups ---------------------------------------------------------------------------------------


@transaction.atomic
def group_create(*, actor: Actor, organization: Organization, name: str, description: str = "") -> Group:
    group = Group.objects.create(organization=organization, name=name, description=description)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateGroup",
        resources=[group_resource(group)],
        request_body={"name": name, "description": description, "organization_id": str(organization.pk)},
    )
    return group


@transaction.atomic
def group_delete(*, actor: Actor, group: Group) -> None:
    organization = group.organization
    resource = group_resource(group, deleted=True)
    group.delete()
    iam_record(
        actor=actor,
        organization=organization,
        method_name="DeleteGroup",
        resources=[resource],
        request_body={"group_id": resource["id"]},
    )


def _member_body(member: User | Application) -> dict[str, str]:
    return {"user_id": str(member.pk)} if isinstance(member, User) else {"application_id": str(member.pk)}


@transaction.atomic
def group_member_add(*, actor: Actor, group: Group, member: User | Application) -> None:
    """Add a user (an active member of the organization) or an application of the organization."""
    if isinstance(member, User):
        if not is_member(group.organization, member):
            raise IamError(f"{member.email} is not a member of the organization.")
        group.users.add(member)
    else:
        if member.organization_id != group.organization_id:
            raise IamError("The application belongs to another organization.")
        group.applications.add(member)
    group.save(update_fields=["updated_at"])
    iam_record(
        actor=actor,
        organization=group.organization,
        method_name="AddGroupMember",
        resources=[group_resource(group)],
        request_body={"group_id": str(group.pk), **_member_body(member)},
    )


@transaction.atomic
def group_member_remove(*, actor: Actor, group: Group, member: User | Application) -> None:
    if isinstance(member, User):
        group.users.remove(member)
    else:
        group.applications.remove(member)
    group.save(update_fields=["updated_at"])
    iam_record(
        actor=actor,
        organization=group.organization,
        method_name="RemoveGroupMember",
        resources=[group_resource(group)],
        request_body={"group_id": str(group.pk), **_member_body(member)},
    )


# --- policies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """One rule as the API takes it: permission sets plus a scope (organization, or projects)."""

    permission_set_names: Sequence[str]
    project_ids: Sequence[uuid.UUID | str] = ()

    def body(self, organization: Organization) -> dict[str, Any]:
        scope: dict[str, Any] = (
            {"project_ids": [str(p) for p in self.project_ids]}
            if self.project_ids
            else {"organization_id": str(organization.pk)}
        )
        return {"permission_set_names": list(self.permission_set_names), "condition": "", **scope}


PolicyPrincipal = User | Group | Application | None


def _principal_fields(principal: PolicyPrincipal) -> dict[str, Any]:
    return {
        "user": principal if isinstance(principal, User) else None,
        "group": principal if isinstance(principal, Group) else None,
        "application": principal if isinstance(principal, Application) else None,
    }


def _principal_body(principal: PolicyPrincipal) -> dict[str, Any]:
    if principal is None:
        return {"no_principal": True}
    key = {User: "user_id", Group: "group_id", Application: "application_id"}[type(principal)]
    return {key: str(principal.pk)}


def _check_policy(organization: Organization, principal: PolicyPrincipal, rules: Sequence[RuleSpec]) -> None:
    if not rules:
        raise IamError("A policy needs at least one rule.")
    if isinstance(principal, User):
        if not is_member(organization, principal):
            raise IamError("The user is not a member of the organization.")
    elif principal is not None and principal.organization_id != organization.pk:
        raise IamError("The principal belongs to another organization.")
    project_ids = {
        str(p) for p in Project.objects.filter(organization=organization).values_list("pk", flat=True)
    }
    for rule in rules:
        if not rule.permission_set_names:
            raise IamError("Each rule names at least one permission set.")
        unknown = [n for n in rule.permission_set_names if n not in CATALOGUE]
        if unknown:
            raise IamError(f"Unknown permission set: {', '.join(unknown)}.")
        if any(str(p) not in project_ids for p in rule.project_ids):
            raise IamError("A rule names a project outside the organization.")


def _write_rules(policy: Policy, rules: Sequence[RuleSpec]) -> None:
    policy.rules.all().delete()
    Rule.objects.bulk_create(
        Rule(
            policy=policy,
            permission_set_names=list(dict.fromkeys(rule.permission_set_names)),
            scope_type=Rule.ScopeType.PROJECTS if rule.project_ids else Rule.ScopeType.ORGANIZATION,
            project_ids=[str(p) for p in rule.project_ids],
        )
        for rule in rules
    )


@transaction.atomic
def policy_create(
    *,
    actor: Actor,
    organization: Organization,
    name: str,
    description: str = "",
    principal: PolicyPrincipal = None,
    rules: Sequence[RuleSpec],
) -> Policy:
    """Create a policy and its rules (CreatePolicy). Raises IamError on a rule that cannot hold."""
    _check_policy(organization, principal, rules)
    policy = Policy.objects.create(
        organization=organization, name=name, description=description, **_principal_fields(principal)
    )
    _write_rules(policy, rules)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreatePolicy",
        resources=[policy_resource(policy)],
        request_body={
            "name": name,
            "description": description,
            "organization_id": str(organization.pk),
            "rules": [r.body(organization) for r in rules],
            **_principal_body(principal),
        },
    )
    return policy


@transaction.atomic
def policy_update(
    *,
    actor: Actor,
    policy: Policy,
    name: str,
    description: str = "",
    principal: PolicyPrincipal = None,
    rules: Sequence[RuleSpec],
) -> Policy:
    """Rename, re-target and overwrite the rules of a policy, in one UpdatePolicy event."""
    organization = policy.organization
    _check_policy(organization, principal, rules)
    policy.name = name
    policy.description = description
    for field, value in _principal_fields(principal).items():
        setattr(policy, field, value)
    policy.save()
    _write_rules(policy, rules)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="UpdatePolicy",
        resources=[policy_resource(policy)],
        request_body={
            "policy_id": str(policy.pk),
            "name": name,
            "description": description,
            "rules": [r.body(organization) for r in rules],
            **_principal_body(principal),
        },
    )
    return policy


@transaction.atomic
def policy_delete(*, actor: Actor, policy: Policy) -> None:
    organization = policy.organization
    resource = policy_resource(policy, deleted=True)
    policy.delete()
    iam_record(
        actor=actor,
        organization=organization,
        method_name="DeletePolicy",
        resources=[resource],
        request_body={"policy_id": resource["id"]},
    )
