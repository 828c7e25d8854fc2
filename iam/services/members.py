"""Members of an organization: removal takes away everything they held in it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from iam.models import APIKey, Group, Membership, Policy
from iam.services._audit import iam_record, user_resource
from iam.services._common import IamError
from iam.services.api_keys import api_key_delete


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
