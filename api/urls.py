"""The API's routes, mounted at the site root exactly as Scaleway's (no trailing slashes): the
Audit Trail's (reference §2.8, §2.9 for alert rules) and IAM's (global: no region in the path).

Our extensions live under /x/, a prefix no Scaleway product uses.
"""

from __future__ import annotations

from django.urls import path

from api import (
    alerts,
    audit_trail,
    custom_alert_rules,
    export_jobs,
    iam,
    iam_groups,
    iam_policies,
    iam_principals,
    iam_rules,
    ingestion,
    integrity,
    openapi,
)
from api.declare import route

REGION = "audit-trail/v1alpha1/regions/<str:region>"

urlpatterns = [
    path(f"{REGION}/events", route(audit_trail.list_events), name="api-list-events"),
    path(f"{REGION}/products", route(audit_trail.list_products), name="api-list-products"),
    path(
        f"{REGION}/authentication-events",
        route(audit_trail.list_authentication_events),
        name="api-list-auth-events",
    ),
    path(f"{REGION}/system-events", route(audit_trail.list_system_events), name="api-list-system-events"),
    path(
        f"{REGION}/combined-events", route(audit_trail.list_combined_events), name="api-list-combined-events"
    ),
    path(
        f"{REGION}/last-events-overview",
        route(audit_trail.get_last_events_overview),
        name="api-last-events-overview",
    ),
    path(
        f"{REGION}/export-jobs",
        route(export_jobs.list_export_jobs, export_jobs.create_export_job),
        name="api-export-jobs",
    ),
    path(
        f"{REGION}/export-jobs/<str:export_job_id>",
        route(export_jobs.delete_export_job),
        name="api-export-job",
    ),
    path("x/audit-trail/v1/events", route(ingestion.ingest_events), name="api-ingest-events"),
    path("x/openapi.json", openapi.openapi_document, name="api-openapi"),
    path(
        "x/integrity/v1/signed-tree-head", route(integrity.get_signed_tree_head), name="api-signed-tree-head"
    ),
    path(
        "x/integrity/v1/events/<str:event_id>/inclusion-proof",
        route(integrity.get_inclusion_proof),
        name="api-inclusion-proof",
    ),
    path(
        "x/integrity/v1/consistency-proof",
        route(integrity.get_consistency_proof),
        name="api-consistency-proof",
    ),
    path("x/integrity/v1/public-keys", integrity.public_keys, name="api-public-keys"),
    # IAM
    path("iam/v1alpha1/logs", route(iam.list_logs), name="api-list-logs"),
    path("iam/v1alpha1/logs/<str:log_id>", route(iam.get_log), name="api-get-log"),
    path("iam/v1alpha1/api-keys", route(iam.list_api_keys, iam.create_api_key), name="api-api-keys"),
    path(
        "iam/v1alpha1/api-keys/<str:access_key>",
        route(iam.get_api_key, iam.update_api_key, iam.delete_api_key),
        name="api-api-key",
    ),
    path(
        "iam/v1alpha1/policies",
        route(iam_policies.list_policies, iam_policies.create_policy),
        name="api-policies",
    ),
    path(
        "iam/v1alpha1/policies/<str:policy_id>",
        route(iam_policies.get_policy, iam_policies.update_policy, iam_policies.delete_policy),
        name="api-policy",
    ),
    path(
        "iam/v1alpha1/policies/<str:policy_id>/clone",
        route(iam_policies.clone_policy),
        name="api-clone-policy",
    ),
    path("iam/v1alpha1/rules", route(iam_rules.list_rules, iam_rules.set_rules), name="api-rules"),
    path("iam/v1alpha1/permission-sets", route(iam_rules.list_permission_sets), name="api-permission-sets"),
    path(
        "iam/v1alpha1/applications",
        route(iam_principals.list_applications, iam_principals.create_application),
        name="api-applications",
    ),
    path(
        "iam/v1alpha1/applications/<str:application_id>",
        route(
            iam_principals.get_application,
            iam_principals.update_application,
            iam_principals.delete_application,
        ),
        name="api-application",
    ),
    path(
        "iam/v1alpha1/users",
        route(iam_principals.list_users, iam_principals.create_user),
        name="api-users",
    ),
    path(
        "iam/v1alpha1/users/<str:user_id>",
        route(iam_principals.get_user, iam_principals.delete_user),
        name="api-user",
    ),
    path("iam/v1alpha1/groups", route(iam_groups.list_groups, iam_groups.create_group), name="api-groups"),
    path(
        "iam/v1alpha1/groups/<str:group_id>",
        route(iam_groups.get_group, iam_groups.update_group, iam_groups.delete_group),
        name="api-group",
    ),
    path(
        "iam/v1alpha1/groups/<str:group_id>/members",
        route(iam_groups.set_group_members),
        name="api-group-members",
    ),
    path(
        "iam/v1alpha1/groups/<str:group_id>/add-member",
        route(iam_groups.add_group_member),
        name="api-group-add-member",
    ),
    path(
        "iam/v1alpha1/groups/<str:group_id>/add-members",
        route(iam_groups.add_group_members),
        name="api-group-add-members",
    ),
    path(
        "iam/v1alpha1/groups/<str:group_id>/remove-member",
        route(iam_groups.remove_group_member),
        name="api-group-remove-member",
    ),
    # Alert rules
    path(
        f"{REGION}/alert-rules",
        route(alerts.list_alert_rules, alerts.set_enabled_alert_rules),
        name="api-alert-rules",
    ),
    path(f"{REGION}/enable-alert-rules", route(alerts.enable_alert_rules), name="api-enable-alert-rules"),
    path(f"{REGION}/disable-alert-rules", route(alerts.disable_alert_rules), name="api-disable-alert-rules"),
    path(
        f"{REGION}/custom-alert-rules",
        route(
            custom_alert_rules.list_custom_alert_rules,
            custom_alert_rules.create_custom_alert_rule,
            custom_alert_rules.set_enabled_custom_alert_rules,
        ),
        name="api-custom-alert-rules",
    ),
    path(
        f"{REGION}/custom-alert-rules/<str:custom_alert_rule_id>",
        route(custom_alert_rules.update_custom_alert_rule, custom_alert_rules.delete_custom_alert_rule),
        name="api-custom-alert-rule",
    ),
    path(
        f"{REGION}/enable-custom-alert-rules",
        route(custom_alert_rules.enable_custom_alert_rules),
        name="api-enable-custom-alert-rules",
    ),
    path(
        f"{REGION}/disable-custom-alert-rules",
        route(custom_alert_rules.disable_custom_alert_rules),
        name="api-disable-custom-alert-rules",
    ),
]
