"""What several IAM services share: the error a user reads, and who counts as a member."""

from __future__ import annotations

from iam.models import Membership, Organization, User


class IamError(ValueError):
    """A write that the request cannot make; the message is meant for the user."""


def is_member(organization: Organization, user: User) -> bool:
    return (
        organization.owner_id == user.pk
        or Membership.objects.active().filter(organization=organization, user=user).exists()
    )
