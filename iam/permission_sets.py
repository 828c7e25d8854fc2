"""The permission-set catalogue (Scaleway's names) and what each one allows here.

A permission set is what a policy rule grants; an *action* is what a view or API call needs.
`ACTIONS` maps each action to the permission sets that grant it, so the console and the API ask
one question: may this principal perform this action in this organization (and project)?
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PermissionSet:
    name: str
    description: str
    scope_type: str  # "organization" or "projects"
    category: str


CATALOGUE: dict[str, PermissionSet] = {
    p.name: p
    for p in [
        PermissionSet(
            "AuditTrailReadOnly", "List and read access to Audit Trail events", "organization", "Audit Trail"
        ),
        PermissionSet("AuditTrailFullAccess", "Full access to Audit Trail", "organization", "Audit Trail"),
        PermissionSet(
            "AuditTrailExportRead", "Read access to Audit Trail exports", "organization", "Audit Trail"
        ),
        PermissionSet(
            "AuditTrailExportDelete", "Delete access to Audit Trail exports", "organization", "Audit Trail"
        ),
        PermissionSet(
            "AuditTrailEventsWriter",
            "Send events to the Audit Trail ingestion API (Audit Trail extension)",
            "organization",
            "Audit Trail",
        ),
        PermissionSet(
            "OrganizationManager",
            "Full access to Organization management (Projects, IAM, billing, support tickets)",
            "organization",
            "Organization",
        ),
        PermissionSet(
            "OrganizationReadOnly", "Read access to Organization settings", "organization", "Organization"
        ),
        PermissionSet(
            "IAMManager",
            "Full access to IAM (users, groups, applications, policies, API keys); includes ProjectManager",
            "organization",
            "IAM",
        ),
        PermissionSet("IAMReadOnly", "Read access to IAM", "organization", "IAM"),
        PermissionSet("ProjectManager", "Full access to Projects", "organization", "Organization"),
        PermissionSet("ProjectReadOnly", "Read access to Projects", "organization", "Organization"),
        PermissionSet(
            "NotificationManagerFullAccess",
            "Full access to notification contacts",
            "organization",
            "Organization",
        ),
        PermissionSet(
            "NotificationManagerReadOnly",
            "Read access to notification contacts",
            "organization",
            "Organization",
        ),
        PermissionSet("SecretManagerFullAccess", "Full access to Secret Manager", "projects", "Security"),
        PermissionSet("InstancesFullAccess", "Full access to Instances", "projects", "Compute"),
        PermissionSet(
            "AllProductsFullAccess", "Full access to all products in the scope", "projects", "General"
        ),
    ]
}

# action -> permission sets that grant it. Organization ownership grants everything.
ACTIONS: dict[str, frozenset[str]] = {
    "audit_trail:read": frozenset({"AuditTrailReadOnly", "AuditTrailFullAccess", "OrganizationManager"}),
    "audit_trail:write": frozenset({"AuditTrailFullAccess", "OrganizationManager"}),
    "audit_trail:ingest": frozenset({"AuditTrailEventsWriter"}),
    # Export jobs (and downloads of the trail): Scaleway's export permission sets. Reading a job
    # also comes with the sets that may change them; ListExportJobs needs AuditTrailExportRead.
    "audit_trail:export_read": frozenset(
        {"AuditTrailExportRead", "AuditTrailExportDelete", "AuditTrailFullAccess", "OrganizationManager"}
    ),
    "audit_trail:export_write": frozenset(
        {"AuditTrailExportDelete", "AuditTrailFullAccess", "OrganizationManager"}
    ),
    # An organization's retention and legal hold (the Integrity tab): its owner only, no set grants it.
    "audit_trail:retention": frozenset(),
    "iam:read": frozenset({"IAMReadOnly", "IAMManager", "OrganizationManager"}),
    "iam:write": frozenset({"IAMManager", "OrganizationManager"}),
    # IAM ▸ Logs: IAM readers, and auditors (the logs derive from the trail). Principal details
    # (names) still need `iam:read`; others see "Unknown" with the ID.
    "iam:logs": frozenset(
        {"IAMReadOnly", "IAMManager", "OrganizationManager", "AuditTrailReadOnly", "AuditTrailFullAccess"}
    ),
    # The permission-set catalogue (ListPermissionSets) is the same for every organization and
    # public in Scaleway's documentation: any permission set grants reading it, so that a user
    # just granted AuditTrailReadOnly can follow the quickstart. A member with no rule cannot.
    "iam:permission_sets": frozenset(CATALOGUE),
    "projects:read": frozenset({"ProjectReadOnly", "ProjectManager", "IAMManager", "OrganizationManager"}),
    "projects:write": frozenset({"ProjectManager", "IAMManager", "OrganizationManager"}),
    "contacts:read": frozenset(
        {"NotificationManagerReadOnly", "NotificationManagerFullAccess", "OrganizationManager"}
    ),
    "contacts:write": frozenset({"NotificationManagerFullAccess", "OrganizationManager"}),
}

# The action each IAM operation needs, by its Scaleway method name. The console page and the API
# endpoint of one operation both look it up here, so the two doors give one answer (the IAM Logs
# tab and ListLogs once disagreed about auditors).
IAM_METHOD_ACTIONS: dict[str, str] = {
    "ListLogs": "iam:logs",
    "GetLog": "iam:logs",
    "ListAPIKeys": "iam:read",
    "GetAPIKey": "iam:read",
    "CreateAPIKey": "iam:write",
    "DeleteAPIKey": "iam:write",
    "UpdateAPIKey": "iam:write",
    "ListPolicies": "iam:read",
    "GetPolicy": "iam:read",
    "CreatePolicy": "iam:write",
    "UpdatePolicy": "iam:write",
    "DeletePolicy": "iam:write",
    "ClonePolicy": "iam:write",
    "SetRules": "iam:write",
    "ListRules": "iam:read",
    "ListPermissionSets": "iam:permission_sets",
    "ListApplications": "iam:read",
    "GetApplication": "iam:read",
    "CreateApplication": "iam:write",
    "UpdateApplication": "iam:write",
    "DeleteApplication": "iam:write",
    "ListGroups": "iam:read",
    "GetGroup": "iam:read",
    "CreateGroup": "iam:write",
    "UpdateGroup": "iam:write",
    "DeleteGroup": "iam:write",
    "SetGroupMembers": "iam:write",
    "AddGroupMember": "iam:write",
    "AddGroupMembers": "iam:write",
    "RemoveGroupMember": "iam:write",
    "ListUsers": "iam:read",
    "GetUser": "iam:read",
    "CreateUser": "iam:write",
    "DeleteUser": "iam:write",
}

# Actions that only an organization-scoped rule can grant (Scaleway: "The scope of these
# permission sets is at Organization level").
ORGANIZATION_SCOPED_ACTIONS = frozenset(ACTIONS)
