"""Reads of export jobs and download manifests, always from one organization."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from exports.models import DownloadManifest, ExportJob
from iam.models import Organization


def export_job_list(*, organization: Organization, region: str) -> QuerySet[ExportJob]:
    """The organization's jobs exporting `region`'s events, by name. One indexed query."""
    return ExportJob.objects.filter(organization=organization, region=region).order_by("name", "created_at")


def export_job_get(*, organization: Organization, job_id: uuid.UUID) -> ExportJob | None:
    return ExportJob.objects.filter(organization=organization, pk=job_id).first()


def download_manifest_get(*, organization: Organization, manifest_id: uuid.UUID) -> DownloadManifest | None:
    return DownloadManifest.objects.filter(organization=organization, pk=manifest_id).first()


def download_manifest_list(
    *, organization: Organization, user_id: uuid.UUID, limit: int = 10
) -> QuerySet[DownloadManifest]:
    """The user's latest downloads in the organization, newest first. One indexed query."""
    return DownloadManifest.objects.filter(organization=organization, user_id=user_id).order_by(
        "-created_at"
    )[:limit]
