"""Organizations, created by the platform with their default groups and policies."""

from __future__ import annotations

from django.db import transaction

from audit.services import Actor
from iam.models import Membership, Organization, User
from iam.services.groups import group_create
from iam.services.policies import RuleSpec, policy_create

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
        group = group_create(
            actor=scaleway, organization=organization, name=group_name, description=description
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
