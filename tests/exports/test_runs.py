"""Export runs into the local directory that stands for a bucket when no S3 endpoint is set."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from audit.models import SystemEvent
from audit.services import Actor
from exports import services
from exports.models import ExportDay, ExportJob
from tests.exports.conftest import events_on, read_ndjson_gz

pytestmark = pytest.mark.django_db


def _job(acme, **kwargs):
    return services.export_job_create(
        actor=Actor.system(),
        organization=acme,
        region="fr-par",
        name="daily",
        bucket="compliance",
        s3_region="fr-par",
        prefix="/trail/",
        **kwargs,
    )


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_the_first_run_writes_each_of_the_last_90_days_once_each_file_holding_that_days_events(
    acme, export_dir, outsider
):
    today = timezone.now().astimezone(UTC).date()
    three_days_ago, yesterday = today - timedelta(days=3), today - timedelta(days=1)
    old = events_on(acme, three_days_ago, 3)
    recent = events_on(acme, yesterday, 2, hour=23)
    events_on(acme, today, 4)  # today is not over: not exported yet
    events_on(acme, yesterday, 5, region="nl-ams")  # another region
    events_on(acme, today - timedelta(days=91), 1)  # beyond the first run's 90 days
    from iam.models import Organization

    events_on(Organization.objects.get(owner=outsider), yesterday, 6)  # another organization

    job = _job(acme)
    services.export_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.last_status == "success"
    files = _files(export_dir)
    assert len(files) == 3 * 90  # each day's object, its signed manifest and the day's signed heads
    day_dir = export_dir / "compliance" / "trail" / str(acme.pk) / "fr-par"
    first = day_dir / three_days_ago.strftime("%Y/%m/%d")
    [old_file] = list(first.glob("*.ndjson.gz"))
    assert old_file.name.endswith(".ndjson.gz")
    assert [e["id"] for e in read_ndjson_gz(old_file.read_bytes())] == [str(e.id) for e in old]
    [recent_file] = list((day_dir / yesterday.strftime("%Y/%m/%d")).glob("*.ndjson.gz"))
    lines = read_ndjson_gz(recent_file.read_bytes())
    assert [e["id"] for e in lines] == [str(e.id) for e in recent]
    assert lines[0]["method_name"] == "CreateSecret" and lines[0]["organization_id"] == str(acme.pk)
    assert not (day_dir / today.strftime("%Y/%m/%d")).exists()
    assert ExportDay.objects.filter(job=job).count() == 90

    # Run again: nothing is written twice.
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    services.export_job_run(job_id=job.pk)
    assert {p: p.stat().st_mtime_ns for p in _files(export_dir)} == mtimes
    job.refresh_from_db()
    assert job.last_message == "0 days written."


def test_the_next_day_only_that_day_is_written(acme, export_dir):
    job = _job(acme)
    services.export_job_run(job_id=job.pk)
    tomorrow = timezone.now() + timedelta(days=1)
    events_on(acme, timezone.now().astimezone(UTC).date(), 2)
    services.export_job_run(job_id=job.pk, now=tomorrow)
    assert ExportDay.objects.filter(job=job).count() == 91
    job.refresh_from_db()
    assert job.last_message == "1 day written."


def test_each_run_is_a_cron_system_event_of_the_organization(acme, export_dir):
    job = _job(acme)
    services.export_job_run(job_id=job.pk)
    [event] = SystemEvent.objects.filter(organization_id=acme.pk)
    assert event.kind == "cron" and event.region == "fr-par"
    assert event.resources[0]["id"] == str(job.pk) and event.resources[0]["action"] == "success"


def test_an_unwritable_directory_fails_the_run_with_a_clear_message_and_retries_later(acme, export_dir):
    export_dir.mkdir(parents=True)
    (export_dir / "compliance").write_text("a file where the bucket's directory should be")
    job = _job(acme)
    before = timezone.now()
    services.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.last_status == "failure"
    assert "Cannot write" in job.last_message
    assert job.failures == 1 and before < job.next_run_at < before + timedelta(minutes=5)
    assert not ExportDay.objects.filter(job=job).exists()


def test_a_file_is_never_left_half_written_under_its_final_name(acme, export_dir, monkeypatch):
    job = _job(acme)
    events_on(acme, timezone.now().astimezone(UTC).date() - timedelta(days=2), 3)
    real_replace = os.replace

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    services.export_job_run(job_id=job.pk)
    monkeypatch.setattr(os, "replace", real_replace)
    assert _files(export_dir) == []  # neither the final name nor the temporary file remain
    job.refresh_from_db()
    assert job.last_status == "failure" and "No space left" in job.last_message
    services.export_job_run(job_id=job.pk)
    assert len(_files(export_dir)) == 3 * 90


def test_the_sweep_enqueues_due_jobs_once(acme, export_dir, django_capture_on_commit_callbacks):
    job = _job(acme)
    ExportJob.objects.filter(pk=job.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.export_jobs_sweep() == 1
    job.refresh_from_db()
    assert job.last_status == "success"  # the immediate backend ran it
    assert services.export_jobs_sweep() == 0  # next due tomorrow


def _keys():
    from integrity.services import public_keys_json
    from integrity.verify import load_keys

    return load_keys({"keys": public_keys_json()})


def test_each_day_has_a_signed_manifest_beside_it_that_the_verifier_accepts(acme, export_dir):
    from integrity.services import latest_head, seal
    from integrity.verify import Refused, check_export

    yesterday = timezone.now().astimezone(UTC).date() - timedelta(days=1)
    events = events_on(acme, yesterday, 3)
    seal(acme.pk)
    job = _job(acme)
    services.export_job_run(job_id=job.pk)

    folder = export_dir / "compliance" / "trail" / str(acme.pk) / "fr-par" / yesterday.strftime("%Y/%m/%d")
    stem = f"audit-trail_fr-par_{yesterday:%Y-%m-%d}"
    body = (folder / f"{stem}.ndjson.gz").read_bytes()
    manifest = json.loads((folder / f"{stem}.manifest.json").read_text())
    head = latest_head(acme.pk)
    assert head is not None
    assert manifest["file"] == f"{stem}.ndjson.gz" and manifest["day"] == yesterday.isoformat()
    assert manifest["rows"] == 3 and manifest["compression"] == "gzip"
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["content_sha256"] == hashlib.sha256(gzip.decompress(body)).hexdigest()
    assert manifest["first_recorded_at"].startswith(events[0].recorded_at.astimezone(UTC).isoformat()[:19])
    assert manifest["head"]["tree_size"] == head.tree_size and manifest["key_id"] == head.key_id
    assert manifest["tree"] == {
        "leaf_index_min": 0,
        "leaf_index_max": 2,
        "leaves": 3,
        "unsealed": 0,
        "contiguous": True,
    }
    assert check_export(body, manifest, _keys()).startswith("OK: 3 rows")
    with pytest.raises(Refused, match="signature"):
        check_export(body, {**manifest, "rows": 2}, _keys())
    # An empty day has its manifest too: nothing in it, and still signed.
    empty = yesterday - timedelta(days=1)
    folder = folder.parent / f"{empty:%d}"
    manifest = json.loads((folder / f"audit-trail_fr-par_{empty:%Y-%m-%d}.manifest.json").read_text())
    assert manifest["rows"] == 0 and manifest["first_recorded_at"] is None
    body = (folder / f"audit-trail_fr-par_{empty:%Y-%m-%d}.ndjson.gz").read_bytes()
    assert check_export(body, manifest, _keys()).startswith("OK: 0 rows")


def test_each_day_writes_the_heads_signed_that_day_to_the_bucket(acme, export_dir):
    from integrity.models import TreeHead
    from integrity.services import head_json, seal

    today = timezone.now().astimezone(UTC).date()
    events_on(acme, today, 2)
    seal(acme.pk)
    events_on(acme, today, 1, hour=11)
    seal(acme.pk)
    job = _job(acme)
    services.export_job_run(job_id=job.pk, now=timezone.now() + timedelta(days=1))

    folder = export_dir / "compliance" / "trail" / str(acme.pk) / "fr-par" / today.strftime("%Y/%m/%d")
    heads = json.loads((folder / f"audit-trail_fr-par_{today:%Y-%m-%d}.heads.json").read_text())
    signed = TreeHead.objects.filter(organization_id=acme.pk).order_by("tree_size")
    assert len(signed) == 2
    assert heads == {
        "organization_id": str(acme.pk),
        "day": today.isoformat(),
        "heads": [head_json(h) for h in signed],
    }
    yesterday = today - timedelta(days=1)
    before = folder.parent.parent.parent / yesterday.strftime("%Y/%m/%d")
    assert (
        json.loads((before / f"audit-trail_fr-par_{yesterday:%Y-%m-%d}.heads.json").read_text())["heads"]
        == []
    )
