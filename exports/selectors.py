"""Reads of export jobs, always from one organization."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from exports.models import ExportJob
from iam.models import Organization


def export_job_list(*, organization: Organization, region: str) -> QuerySet[ExportJob]:
    """The organization's jobs exporting `region`'s events, by name. One indexed query."""
    return ExportJob.objects.filter(organization=organization, region=region).order_by("name", "created_at")


def export_job_get(*, organization: Organization, job_id: uuid.UUID) -> ExportJob | None:
    return ExportJob.objects.filter(organization=organization, pk=job_id).first()
