"""IAM API routes (global: no region in the path), mounted at the site root like Scaleway's."""

from __future__ import annotations

from django.urls import path

from iam import api

urlpatterns = [
    path("iam/v1alpha1/logs", api.list_logs, name="api-list-logs"),
    path("iam/v1alpha1/logs/<str:log_id>", api.get_log, name="api-get-log"),
    path("iam/v1alpha1/api-keys", api.api_keys, name="api-api-keys"),
    path("iam/v1alpha1/api-keys/<str:access_key>", api.api_key_detail, name="api-api-key"),
]
