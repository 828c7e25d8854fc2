"""Invitations: a user is asked in by e-mail and accepts, declines, or lets it expire."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from audit.services import Actor
from iam.models import Invitation, Membership, Organization, User
from iam.services._audit import iam_record, invitation_resource, user_resource
from iam.services._common import IamError, is_member
from worker.delivery import deliver, header_safe
from worker.models import Delivery

INVITATION_VALIDITY = timedelta(days=7)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token(invitation_id: uuid.UUID) -> str:
    """The invitation's secret link token, derived from its random id and SECRET_KEY.

    Derived rather than stored, so that the e-mail task can rebuild the link from the id alone:
    neither the database nor the task queue ever holds the token (only its hash is stored).
    """
    digest = salted_hmac("iam.invitation.token", str(invitation_id), algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


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
    invitation_id = uuid.uuid4()
    token = _token(invitation_id)
    invitation = Invitation.objects.create(
        id=invitation_id,
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
    # A task sends the e-mail once the invitation is committed, and retries while SMTP is away;
    # the sweep of every worker enqueues it again should this enqueue be lost.
    from iam.tasks import invitation_email  # tasks import services

    transaction.on_commit(lambda: invitation_email.enqueue(str(invitation.pk)))
    return invitation, token


def _compose_invitation(invitation: Invitation) -> EmailMessage | str:
    if not invitation.is_open:
        return Delivery.CANCELLED  # answered, cancelled or expired meanwhile: nothing to say
    organization = invitation.organization
    link = settings.SITE_URL + reverse("iam:invitation", args=[_token(invitation.pk)])
    context = {
        "organization": organization,
        "invitation": invitation,
        "link": link,
        "invited_by": invitation.invited_by,
    }
    return EmailMessage(
        subject=header_safe(f"You are invited to join {organization.name} on Audit Trail"),
        body=render_to_string("iam/email/invitation.txt", context),
        to=[invitation.email],
    )


def invitation_email_send(*, invitation_id: uuid.UUID | str) -> Invitation:
    """E-mail the invitation's link, once (`worker.delivery.deliver`). Returns the invitation.

    Nothing is sent for an invitation no longer open. A failed delivery goes back to pending
    until MAX_ATTEMPTS, then to failed; the task schedules the retry.
    """
    return deliver(Invitation, invitation_id, compose=_compose_invitation)


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
    """Close the invitation and record DeleteUser for the invited user it stood for; `actor` is
    who closed it: the platform when the invitee answers or it expires, the administrator who
    withdrew it.

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
