"""Alert-rule API routes, at Scaleway's paths (reference §2.8, §2.9; no trailing slashes)."""

from __future__ import annotations

from django.urls import path

from alerts import api

REGION = "audit-trail/v1alpha1/regions/<str:region>"

urlpatterns = [
    path(f"{REGION}/alert-rules", api.alert_rules, name="api-alert-rules"),
    path(f"{REGION}/enable-alert-rules", api.enable_alert_rules, name="api-enable-alert-rules"),
    path(f"{REGION}/disable-alert-rules", api.disable_alert_rules, name="api-disable-alert-rules"),
    path(f"{REGION}/custom-alert-rules", api.custom_alert_rules, name="api-custom-alert-rules"),
    path(
        f"{REGION}/custom-alert-rules/<str:custom_alert_rule_id>",
        api.custom_alert_rule_detail,
        name="api-custom-alert-rule",
    ),
    path(
        f"{REGION}/enable-custom-alert-rules",
        api.enable_custom_alert_rules,
        name="api-enable-custom-alert-rules",
    ),
    path(
        f"{REGION}/disable-custom-alert-rules",
        api.disable_custom_alert_rules,
        name="api-disable-custom-alert-rules",
    ),
]
