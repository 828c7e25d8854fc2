"""Background work of exports. A run may happen twice (a worker killed mid-run has its task run
again): each day is written once (`exports.services`)."""

from __future__ import annotations

from django.tasks import task

from exports.services import export_job_run, export_jobs_sweep


@task()
def export_job_run_task(job_id: str) -> str:
    """Run one export job: write the days it has not written yet."""
    job = export_job_run(job_id=job_id)
    return job.last_status if job is not None else "deleted"


def export_jobs_due_sweep() -> int:
    """Enqueue the runs of the jobs that are due (a step of every db_worker's loop)."""
    return export_jobs_sweep()
