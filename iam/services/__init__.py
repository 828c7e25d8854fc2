"""Writes to IAM. Every one of them records its audit event in the same transaction.

One module per area; this package re-exports their public names, so callers import
`from iam.services import api_key_create` (or `from iam import services`) whatever module holds it.
"""

from __future__ import annotations

from iam.services._audit import (
    IAM_PRODUCT,
    IAM_SERVICE,
    api_key_resource,
    application_resource,
    group_resource,
    iam_record,
    invitation_resource,
    policy_resource,
    user_resource,
)
from iam.services._common import IamError, IamPermissionDenied, is_member
from iam.services.api_keys import api_key_authenticate, api_key_create, api_key_delete, api_key_update
from iam.services.applications import application_create, application_delete, application_update
from iam.services.groups import (
    group_create,
    group_delete,
    group_member_add,
    group_member_remove,
    group_members_add,
    group_members_set,
    group_update,
)
from iam.services.invitations import (
    INVITATION_VALIDITY,
    invitation_accept,
    invitation_cancel,
    invitation_email_send,
    invitation_for_token,
    invitation_reject,
    invitations_expire,
    user_invite,
)
from iam.services.members import member_remove
from iam.services.organizations import DEFAULT_GROUPS, organization_create
from iam.services.policies import (
    PolicyPrincipal,
    RuleSpec,
    policy_clone,
    policy_create,
    policy_delete,
    policy_rules_set,
    policy_update,
)

__all__ = [
    "policy_rules_set",
    "policy_clone",
    "group_update",
    "group_members_set",
    "group_members_add",
    "api_key_update",
    "DEFAULT_GROUPS",
    "IAM_PRODUCT",
    "IAM_SERVICE",
    "INVITATION_VALIDITY",
    "IamError",
    "IamPermissionDenied",
    "PolicyPrincipal",
    "RuleSpec",
    "api_key_authenticate",
    "api_key_create",
    "api_key_delete",
    "api_key_resource",
    "application_create",
    "application_delete",
    "application_resource",
    "application_update",
    "group_create",
    "group_delete",
    "group_member_add",
    "group_member_remove",
    "group_resource",
    "iam_record",
    "invitation_accept",
    "invitation_cancel",
    "invitation_email_send",
    "invitation_for_token",
    "invitation_reject",
    "invitation_resource",
    "invitations_expire",
    "is_member",
    "member_remove",
    "organization_create",
    "policy_create",
    "policy_delete",
    "policy_resource",
    "policy_update",
    "user_invite",
    "user_resource",
]
