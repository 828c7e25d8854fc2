"""Audit Trail API routes, mounted at the site root exactly as Scaleway's (no trailing slashes).

Our extensions live under /x/, a prefix no Scaleway product uses.
"""

from __future__ import annotations

from django.urls import path

from audit import api, openapi

REGION = "audit-trail/v1alpha1/regions/<str:region>"

urlpatterns = [
    path(f"{REGION}/events", api.list_events, name="api-list-events"),
    path(f"{REGION}/products", api.list_products, name="api-list-products"),
    path(f"{REGION}/authentication-events", api.list_authentication_events, name="api-list-auth-events"),
    path(f"{REGION}/combined-events", api.list_combined_events, name="api-list-combined-events"),
    path("x/audit-trail/v1/events", api.ingest_events, name="api-ingest-events"),
    path("x/openapi.json", openapi.openapi_document, name="api-openapi"),
]
