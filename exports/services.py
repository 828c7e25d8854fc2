"""Export jobs: create, delete, run, and the sweep that runs the due ones.

A run writes every day of the last `EXPORT_DAYS` (90) the job has not written yet, up to
yesterday (UTC): one gzipped NDJSON object per day, in ListEvents' wire shape
(`audit.serializers.event_json`), at `<prefix>/<organization>/<region>/<yyyy>/<mm>/<dd>/…`.
Each day written is remembered (`ExportDay`, unique per job and day), so a run that is repeated
(a retry, a worker killed and its task run again, two runs at once) writes each day once; a day
whose object was written but not remembered is written again, whole, under the same name.
Objects appear atomically (`exports.storage`). A failed run keeps the days it finished, shows
its error in `last_status`, and is run again after a backoff.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import re
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import batched
from typing import IO, Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import Event, SystemEvent
from audit.serializers import event_json
from audit.services import Actor, record, record_system
from core.replication import replica_alias
from exports.models import ExportDay, ExportJob
from exports.storage import StorageError, storage_for
from iam.models import Organization
from integrity.export_manifests import ManifestBuilder, heads_signed_between, iso

logger = logging.getLogger(__name__)

PRODUCT = "audit-trail"
SERVICE = "scaleway.audit_trail.v1alpha1.Api"
RESOURCE_TYPE = "audit_trail_export_job"
SOURCE = "audit-trail-exporter"
CHUNK = 2000
# S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A run starts this long after midnight UTC, so that yesterday's last events are in.
RUN_AFTER_MIDNIGHT = timedelta(minutes=15)
# Retry backoff after failures in a row: 1, 2, 4… minutes, at most an hour.
RETRY_FIRST, RETRY_MAX = timedelta(minutes=1), timedelta(hours=1)
# A job the sweep enqueued is not enqueued again for this long (its run moves it on).
ENQUEUE_LEASE = timedelta(minutes=30)


def export_job_resource(job: ExportJob) -> dict[str, Any]:
    return {"id": str(job.pk), "type": RESOURCE_TYPE, "name": job.name}


def _record(
    *, actor: Actor, job: ExportJob, method_name: str, request_body: dict[str, Any] | None = None
) -> None:
    record(
        organization_id=job.organization_id,
        actor=actor,
        product_name=PRODUCT,
        service_name=SERVICE,
        method_name=method_name,
        locality=job.region,
        resources=[export_job_resource(job)],
        request_body=request_body,
    )


def normalized_prefix(prefix: str) -> str:
    return "/".join(part for part in prefix.strip().split("/") if part)


@transaction.atomic
def export_job_create(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    name: str,
    bucket: str,
    s3_region: str,
    prefix: str = "",
    project_id: uuid.UUID | None = None,
    tags: list[str] | None = None,
) -> ExportJob:
    """Create a job (CreateExportJob), audited, and enqueue its first run once committed."""
    job = ExportJob.objects.create(
        organization=organization,
        region=region,
        name=name,
        tags=list(tags or []),
        bucket=bucket,
        s3_region=s3_region,
        prefix=normalized_prefix(prefix),
        project_id=project_id,
        next_run_at=timezone.now() + ENQUEUE_LEASE,
    )
    _record(
        actor=actor,
        job=job,
        method_name="CreateExportJob",
        request_body={
            "name": name,
            "tags": job.tags,
            "s3": {
                "bucket": bucket,
                "region": s3_region,
                "prefix": job.prefix,
                "project_id": project_id and str(project_id),
            },
        },
    )
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: uuid.UUID) -> None:
    from exports.tasks import export_job_run_task

    export_job_run_task.enqueue(str(job_id))


@transaction.atomic
def export_job_delete(*, actor: Actor, job: ExportJob) -> None:
    """Delete a job (DeleteExportJob), audited. The objects it wrote stay in the bucket."""
    _record(actor=actor, job=job, method_name="DeleteExportJob")
    job.delete()


def object_key(job: ExportJob, day: date) -> str:
    path = (
        f"{job.organization_id}/{job.region}/{day:%Y/%m/%d}/audit-trail_{job.region}_{day:%Y-%m-%d}.ndjson.gz"
    )
    return f"{job.prefix}/{path}" if job.prefix else path


def days_due(job: ExportJob, *, today: date) -> list[date]:
    """The complete days of the export window that the job has not written, oldest first."""
    first = today - timedelta(days=settings.EXPORT_DAYS)
    written = set(job.days.filter(day__gte=first).values_list("day", flat=True))
    return [
        first + timedelta(days=n)
        for n in range((today - first).days)
        if first + timedelta(days=n) not in written
    ]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def manifest_key(job: ExportJob, day: date) -> str:
    """The day's signed manifest, beside its object."""
    return object_key(job, day).removesuffix(".ndjson.gz") + ".manifest.json"


def heads_key(job: ExportJob, day: date) -> str:
    """The organization's heads signed that day, beside the day's object."""
    return object_key(job, day).removesuffix(".ndjson.gz") + ".heads.json"


def _write_day(job: ExportJob, day: date, put: Callable[..., None]) -> int:
    """Write one day's events to a temporary file, gzipped, then hand it to storage whole; then its
    signed manifest, then the heads signed that day (so that they also live outside our database)."""
    start, end = _day_bounds(day)
    # The standby serves the day only when its replay has passed the day's end: nothing missing.
    qs = (
        Event.objects.using(replica_alias(fresh_since=end))
        .filter(
            organization_id=job.organization_id,
            region=job.region,
            recorded_at__gte=start,
            recorded_at__lt=end,
        )
        .order_by("recorded_at", "id")
        .iterator(chunk_size=CHUNK)
    )
    manifest = ManifestBuilder(job.organization_id, compression="gzip")
    with tempfile.TemporaryFile() as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as out:
            for chunk in batched(qs, CHUNK):
                lines = b"".join(orjson.dumps(event_json(event)) + b"\n" for event in chunk)
                out.write(lines)
                manifest.add_content(lines)
                manifest.add_events(chunk)
        key = object_key(job, day)
        signed = manifest.signed(
            **_file_digest(spool),
            file=key.rsplit("/", 1)[-1],
            region=job.region,
            day=day.isoformat(),
            period={"start": iso(start), "end": iso(end)},
        )
        spool.seek(0)
        put(key, spool)
    put(manifest_key(job, day), _json_file(signed), content_type="application/json")
    heads = {
        "organization_id": str(job.organization_id),
        "day": day.isoformat(),
        "heads": heads_signed_between(job.organization_id, start, end),
    }
    put(heads_key(job, day), _json_file(heads), content_type="application/json")
    return manifest.rows


def _file_digest(spool: IO[bytes]) -> dict[str, Any]:
    spool.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := spool.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


def _json_file(document: dict[str, Any]) -> IO[bytes]:
    return io.BytesIO(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def export_job_run(*, job_id: uuid.UUID | str, now: datetime | None = None) -> ExportJob | None:
    """Run a job: write its due days, then record the outcome in `last_status` and as a system
    event (`cron`). A storage error ends the run as a failure (retried after a backoff); it is
    never raised. Returns the job, or None when it was deleted meanwhile."""
    job = ExportJob.objects.filter(pk=job_id).select_related("organization").first()
    if job is None:
        return None
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    storage = storage_for(bucket=job.bucket, region=job.s3_region)
    written = 0
    error = ""
    try:
        due = days_due(job, today=today)
        if due:
            storage.check()
        for day in due:
            count = _write_day(job, day, storage.put)
            try:
                ExportDay.objects.create(job=job, day=day, key=object_key(job, day), events=count)
            except IntegrityError:  # another run of the job wrote it meanwhile, identically
                continue
            written += 1
    except StorageError as exc:
        error = str(exc)
    except Exception as exc:  # anything else: shown to the user, logged with its traceback
        logger.exception("Export job %s failed", job.pk)
        error = f"The export failed: {exc.__class__.__name__}: {exc}"
    _finish(job, now=timezone.now(), today=today, written=written, error=error)
    return job


def _finish(job: ExportJob, *, now: datetime, today: date, written: int, error: str) -> None:
    job.last_run_at = now
    if error:
        job.last_status = ExportJob.Status.FAILURE
        job.last_message = error[:2000]
        job.failures += 1
        job.next_run_at = now + min(RETRY_FIRST * 2 ** (job.failures - 1), RETRY_MAX)
    else:
        job.last_status = ExportJob.Status.SUCCESS
        job.last_message = f"{written} day{'s' if written != 1 else ''} written."
        job.failures = 0
        job.next_run_at = (
            datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC) + RUN_AFTER_MIDNIGHT
        )
    updated = ExportJob.objects.filter(pk=job.pk).update(
        last_run_at=job.last_run_at,
        last_status=job.last_status,
        last_message=job.last_message,
        failures=job.failures,
        next_run_at=job.next_run_at,
    )
    if updated:
        record_system(
            organization_id=job.organization_id,
            kind=SystemEvent.Kind.CRON,
            system_name=f"ExportJob {job.name}"[:128],
            source=SOURCE,
            locality=job.region,
            project_id=job.project_id,
            resources=[
                {
                    **export_job_resource(job),
                    "action": job.last_status,
                }
            ],
        )


def export_jobs_sweep(*, now: datetime | None = None) -> int:
    """Enqueue a run of every job that is due (a step of every db_worker's loop). Each job is
    leased by one conditional UPDATE, so two workers sweeping at once enqueue it once."""
    now = now or timezone.now()
    enqueued = 0
    for pk, due in ExportJob.objects.filter(next_run_at__lte=now).values_list("pk", "next_run_at")[:500]:
        if ExportJob.objects.filter(pk=pk, next_run_at=due).update(next_run_at=now + ENQUEUE_LEASE):
            _enqueue(pk)
            enqueued += 1
    return enqueued
