from __future__ import annotations

from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("audit-trail/exports/", views.jobs, name="jobs"),
    path("audit-trail/exports/<uuid:job_id>/delete/", views.job_delete, name="job-delete"),
    path("audit-trail/exports/download/", views.download, name="download"),
    path(
        "audit-trail/exports/download/<uuid:manifest_id>/manifest.json",
        views.download_manifest,
        name="download-manifest",
    ),
]
