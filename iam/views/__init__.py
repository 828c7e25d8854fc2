"""The console's own pages: signing in, the header's switches, and IAM (one module per tab).

`iam/urls.py` names views as `views.<name>`; this package re-exports them from their modules.
"""

from __future__ import annotations

from iam.views.api_keys import api_key_create, api_key_created, api_key_delete, api_key_list
from iam.views.applications import (
    application_create,
    application_delete,
    application_detail,
    application_list,
)
from iam.views.auth import LOGIN_MAX_FAILURES_PER_EMAIL, LoginView, home, organization_switch, time_display
from iam.views.groups import (
    group_create,
    group_delete,
    group_detail,
    group_list,
    group_member_add,
    group_member_remove,
)
from iam.views.logs import log_detail, log_list
from iam.views.policies import policy_create, policy_delete, policy_detail, policy_list
from iam.views.users import invitation_cancel, invitation_respond, member_remove, user_invite, user_list

__all__ = [
    "LOGIN_MAX_FAILURES_PER_EMAIL",
    "LoginView",
    "api_key_create",
    "api_key_created",
    "api_key_delete",
    "api_key_list",
    "application_create",
    "application_delete",
    "application_detail",
    "application_list",
    "group_create",
    "group_delete",
    "group_detail",
    "group_list",
    "group_member_add",
    "group_member_remove",
    "home",
    "invitation_cancel",
    "invitation_respond",
    "log_detail",
    "log_list",
    "member_remove",
    "organization_switch",
    "policy_create",
    "policy_delete",
    "policy_detail",
    "policy_list",
    "time_display",
    "user_invite",
    "user_list",
]
