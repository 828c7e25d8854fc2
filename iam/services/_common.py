"""What several IAM services share: the error a user reads, and who counts as a member."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from iam.models import Membership, Organization, User


class IamError(ValueError):
    """A write that the request cannot make; the message is meant for the user."""


class IamPermissionDenied(PermissionDenied):
    """A write that the actor may not make, whatever door it came through (a refusal: 403)."""


def is_member(organization: Organization, user: User) -> bool:
    return (
        organization.owner_id == user.pk
        or Membership.objects.active().filter(organization=organization, user=user).exists()
    )
