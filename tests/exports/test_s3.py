"""Export runs into a real S3-compatible server (SeaweedFS on loopback), through boto3."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from audit.services import Actor
from exports import services
from exports.models import ExportDay
from tests.exports.conftest import events_on, read_ndjson_gz

pytestmark = pytest.mark.django_db


def _job(acme, bucket, prefix="audit"):
    return services.export_job_create(
        actor=Actor.system(),
        organization=acme,
        region="fr-par",
        name="to s3",
        bucket=bucket,
        s3_region="fr-par",
        prefix=prefix,
    )


def _keys(s3_server, bucket):
    listing = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in listing for o in page.get("Contents", []))


def test_a_run_writes_the_right_days_once_each_object_holding_that_days_events(
    acme, settings, s3_server, bucket
):
    settings.EXPORT_S3_ENDPOINTS = {"fr-par": s3_server.endpoint()}
    day = timezone.now().astimezone(UTC).date() - timedelta(days=5)
    stored = events_on(acme, day, 4)
    events_on(acme, day + timedelta(days=1), 1, region="nl-ams")
    job = _job(acme, bucket)

    services.export_job_run(job_id=job.pk)

    keys = _keys(s3_server, bucket)
    assert len(keys) == 3 * 90  # each day's object, its signed manifest and the day's signed heads
    key = f"audit/{acme.pk}/fr-par/{day:%Y/%m/%d}/audit-trail_fr-par_{day:%Y-%m-%d}.ndjson.gz"
    assert key in keys
    body = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    stored_manifest = s3_server.client().get_object(
        Bucket=bucket, Key=key.replace(".ndjson.gz", ".manifest.json")
    )
    assert stored_manifest["ContentType"] == "application/json"
    manifest = json.loads(stored_manifest["Body"].read())
    assert manifest["rows"] == 4 and manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert key.replace(".ndjson.gz", ".heads.json") in keys
    assert [e["id"] for e in read_ndjson_gz(body)] == [str(e.id) for e in stored]
    next_day = day + timedelta(days=1)
    next_key = f"audit/{acme.pk}/fr-par/{next_day:%Y/%m/%d}/audit-trail_fr-par_{next_day:%Y-%m-%d}.ndjson.gz"
    assert read_ndjson_gz(s3_server.client().get_object(Bucket=bucket, Key=next_key)["Body"].read()) == []

    versions = {k: s3_server.client().head_object(Bucket=bucket, Key=k)["ETag"] for k in keys[:3]}
    services.export_job_run(job_id=job.pk)
    assert _keys(s3_server, bucket) == keys
    assert {k: s3_server.client().head_object(Bucket=bucket, Key=k)["ETag"] for k in keys[:3]} == versions
    job.refresh_from_db()
    assert job.last_status == "success" and job.last_message == "0 days written."


def test_wrong_credentials_fail_the_run_with_a_clear_message(acme, settings, s3_server, bucket):
    settings.EXPORT_S3_ENDPOINTS = {"fr-par": s3_server.endpoint(secret_key="not-the-secret")}
    job = _job(acme, bucket)
    services.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.last_status == "failure"
    assert f"refused the credentials for bucket {bucket}" in job.last_message
    assert not ExportDay.objects.filter(job=job).exists()
    assert _keys(s3_server, bucket) == []


def test_a_missing_bucket_fails_the_run_with_a_clear_message(acme, settings, s3_server):
    settings.EXPORT_S3_ENDPOINTS = {"fr-par": s3_server.endpoint()}
    job = _job(acme, "no-such-bucket-here")
    services.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.last_status == "failure"
    assert job.last_message == "The bucket no-such-bucket-here does not exist."
