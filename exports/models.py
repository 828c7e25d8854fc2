"""Export jobs (reference §3.7): each copies one organization's events of one region, a file per
day, into an S3 bucket (or the local directory that stands for one), and the days it wrote."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.ids import uuid7
from iam.models import Organization


class ExportJob(models.Model):
    """A daily export of the organization's events in `region` to `bucket`, under `prefix`."""

    class Status(models.TextChoices):
        UNKNOWN = "", "Not run yet"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="export_jobs")
    # The region whose events the job exports (the API path's); the bucket's is `s3_region`.
    region = models.CharField(max_length=16)
    name = models.CharField(max_length=255)
    tags = models.JSONField(default=list, blank=True)
    bucket = models.CharField(max_length=63)
    s3_region = models.CharField(max_length=16)
    prefix = models.CharField(max_length=255, blank=True)
    project_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    last_message = models.TextField(blank=True)
    # Failed runs in a row, for the retry's backoff; 0 after a success.
    failures = models.PositiveIntegerField(default=0)
    # When the sweep next enqueues a run: the next day after a success, sooner after a failure.
    next_run_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "created_at"]
        indexes = [
            # ListExportJobs and the Exports tab: one organization and region, by name.
            models.Index(fields=["organization", "region", "name"], name="exports_job_org_name_idx"),
            # The sweep: the jobs due now.
            models.Index(fields=["next_run_at"], name="exports_job_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ExportDay(models.Model):
    """One day of events written by a job: the object's key and how many events it holds. A day
    with a row here is never written again (unique per job and day)."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    key = models.CharField(max_length=1024)
    events = models.PositiveIntegerField()
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "day"], name="exports_day_once")]

    def __str__(self) -> str:
        return f"{self.job_id} {self.day}"


class DownloadManifest(models.Model):
    """The signed manifest of one "Download this view" file (`integrity.export_manifests`),
    stored when the file's last byte left, and served at the URL the download's `Link` names."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # Who downloaded: the signed-in user (the Exports tab lists a user's own recent downloads).
    user_id = models.UUIDField(null=True, blank=True)
    filename = models.CharField(max_length=255)
    rows = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    manifest = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()
        indexes = [
            # The Exports tab: a user's latest downloads in the organization.
            models.Index(fields=["organization", "user_id", "-created_at"], name="exports_dlman_user_idx"),
        ]

    def __str__(self) -> str:
        return self.filename
