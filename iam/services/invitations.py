"""Invitations: a user is asked in by e-mail and accepts, declines, or lets it expire."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor
from iam.models import Invitation, Membership, Organization, User
from iam.services._audit import iam_record, invitation_resource, user_resource
from iam.services._common import IamError, is_member

INVITATION_VALIDITY = timedelta(days=7)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    # The trail holds what the inviter typed, never the account behind the address (see
    # invitation_resource): whether it existed is not the inviting organization's to learn.
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateUser",
        resources=[invitation_resource(invitation)],
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


def _locked(pk: uuid.UUID) -> Invitation:
    """The invitation, re-read under a row lock so that two answers to it cannot both win."""
    return (
        Invitation.objects.select_for_update(of=("self",)).select_related("user", "organization").get(pk=pk)
    )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, password: str | None = None, request_id: str = "") -> User:
    """Accept: the platform ("Scaleway") adds the user to the organization (UpdateUser, activated).

    A user created for the invitation chooses their password here.
    """
    invitation = _locked(invitation.pk)
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


def _close_invitation(invitation: Invitation, status: str, actor: Actor) -> None:
    """Close the invitation and record DeleteUser for the invited user it stood for.

    The event names the invitation, as CreateUser did, and is recorded whether or not an account
    goes with it: a pending account made for this invitation alone is deleted, an account that
    existed before is kept, and the organization's trail cannot tell the two apart.
    """
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
        user.delete()
    iam_record(
        actor=actor,
        organization=invitation.organization,
        method_name="DeleteUser",
        resources=[invitation_resource(invitation, deleted=True)],
        request_body={"user_id": str(invitation.pk)},
    )


@transaction.atomic
def invitation_reject(*, invitation: Invitation, request_id: str = "") -> None:
    invitation = _locked(invitation.pk)
    if not invitation.is_open:
        raise IamError("This invitation is no longer valid.")
    _close_invitation(invitation, Invitation.Status.REJECTED, Actor.system(request_id=request_id))


def invitations_expire(*, now: datetime | None = None) -> int:
    """Close every pending invitation past its expiry (and delete the pending accounts). Idempotent."""
    now = now or timezone.now()
    count = 0
    for pk in Invitation.objects.filter(status=Invitation.Status.PENDING, expires_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            invitation = _locked(pk)
            if invitation.status == Invitation.Status.PENDING:
                _close_invitation(invitation, Invitation.Status.EXPIRED, Actor.system())
                count += 1
    return count


@transaction.atomic
def invitation_cancel(*, actor: Actor, invitation: Invitation) -> None:
    """An administrator withdraws a pending invitation (DeleteUser for the pending account)."""
    if invitation.status != Invitation.Status.PENDING:
        raise IamError("Only a pending invitation can be cancelled.")
    _close_invitation(invitation, Invitation.Status.EXPIRED, actor)
