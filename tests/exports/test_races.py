"""Two db_workers running one export job at the same moment (a retry and the daily sweep, say):
each day is exported once, whole."""

from __future__ import annotations

import threading
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from exports import services
from exports.models import ExportDay, ExportJob
from tests.exports.conftest import events_on, read_ndjson_gz


def _at_once(n: int, call) -> list:
    """Run `call` in n threads released together, each on its own database connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_job_at_once_write_each_day_once(acme, export_dir, settings):
    settings.EXPORT_DAYS = 4
    today = timezone.now().astimezone(UTC).date()
    counts = {today - timedelta(days=d): d + 1 for d in range(1, 5)}  # 2, 3, 4 and 5 events
    for day, n in counts.items():
        events_on(acme, day, n)
    # Made directly: the service would enqueue (and, in tests, run) a first run at once.
    job = ExportJob.objects.create(
        organization=acme, region="fr-par", name="daily", bucket="compliance", s3_region="fr-par"
    )

    _at_once(2, lambda: services.export_job_run(job_id=job.pk))

    days = list(ExportDay.objects.filter(job=job).order_by("day").values_list("day", "events"))
    assert days == sorted(counts.items())
    files = sorted(p for p in export_dir.rglob("*.ndjson.gz"))
    assert len(files) == 4
    assert not list(export_dir.rglob(".partial-*"))
    for day, n in counts.items():
        [path] = [p for p in files if day.strftime("%Y-%m-%d") in p.name]
        assert len(read_ndjson_gz(path.read_bytes())) == n
    job.refresh_from_db()
    assert job.last_status == "success"
