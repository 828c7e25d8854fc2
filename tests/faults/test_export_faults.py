"""An export run whose worker is killed mid-upload (a real db_worker, SIGKILLed, and a real
SeaweedFS): no partial object appears, and the next worker completes the run, each day once."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from audit.services import Actor
from exports import services
from exports.models import ExportDay, ExportJob
from tests.exports.conftest import events_on, read_ndjson_gz
from tests.faults.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_killed_mid_upload_leaves_no_partial_object_and_the_next_completes_the_run(
    acme, workers, s3_server, bucket, settings, tmp_path
):
    settings.EXPORT_S3_ENDPOINTS = {"fr-par": s3_server.endpoint()}
    endpoints = json.dumps(settings.EXPORT_S3_ENDPOINTS)
    today = timezone.now().astimezone(UTC).date()
    third_day = today - timedelta(days=settings.EXPORT_DAYS - 2)  # the run's third upload
    stored = events_on(acme, third_day, 200)
    uploading = tmp_path / "uploading"
    first = workers.start("first", EXPORT_S3_ENDPOINTS=endpoints, FAULT_HANG_IN_EXPORT_PUT=str(uploading))
    job = services.export_job_create(
        actor=Actor.system(),
        organization=acme,
        region="fr-par",
        name="nightly",
        bucket=bucket,
        s3_region="fr-par",
    )
    wait_for(uploading.exists, timeout=180, what="the worker to be mid-upload")
    workers.kill(first)

    client = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    days = [key for key in keys if key.endswith(".ndjson.gz")]
    assert len(days) == 2  # the two days finished; nothing under the third day's name
    assert len(keys) == 3 * 2  # each with its signed manifest and its heads
    assert services.object_key(job, third_day) not in keys
    assert ExportDay.objects.filter(job=job).count() == 2

    workers.start("second", EXPORT_S3_ENDPOINTS=endpoints)
    wait_for(
        lambda: ExportJob.objects.get(pk=job.pk).last_status == "success",
        timeout=180,
        what="the run to complete",
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, MaxKeys=1000).get("Contents", [])]
    days = [key for key in keys if key.endswith(".ndjson.gz")]
    assert len(days) == settings.EXPORT_DAYS == ExportDay.objects.filter(job=job).count()
    assert len(keys) == 3 * settings.EXPORT_DAYS
    body = client.get_object(Bucket=bucket, Key=services.object_key(job, third_day))["Body"].read()
    assert [e["id"] for e in read_ndjson_gz(body)] == [str(e.id) for e in stored]
