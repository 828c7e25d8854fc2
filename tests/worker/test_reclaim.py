"""A task left RUNNING by a dead worker is taken up again (issue 8, #3)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command, get_commands
from django.db import connection
from django.tasks import TaskResultStatus, task
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from worker import services
from worker.models import WorkerHeartbeat

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
RAN: list[str] = []


@task()
def remember(value: str) -> str:
    RAN.append(value)
    return value


def _running(*, worker_id: str, started: timedelta, claims: int = 1) -> DBTaskResult:
    """A task as django-tasks-db leaves it when its worker is killed mid-run."""
    with override_settings(TASKS=DATABASE_TASKS):
        result = remember.enqueue("x")
    row = DBTaskResult.objects.get(pk=result.id)
    row.status = TaskResultStatus.RUNNING
    row.started_at = timezone.now() - started
    row.worker_ids = [f"dead-{i}" for i in range(claims - 1)] + [worker_id]
    row.save()
    return row


def _status(row: DBTaskResult) -> str:
    row.refresh_from_db()
    return row.status


def test_our_db_worker_command_replaces_the_librarys():
    assert get_commands()["db_worker"] == "worker"


@pytest.mark.django_db
def test_a_task_of_a_worker_that_stopped_beating_goes_back_to_the_queue():
    WorkerHeartbeat.objects.create(worker_id="killed", seen_at=timezone.now() - timedelta(minutes=5))
    abandoned = _running(worker_id="killed", started=timedelta(minutes=5))
    vanished = _running(worker_id="never-beat", started=timedelta(minutes=5))  # e.g. the library's worker

    assert services.tasks_reclaim(backend_name="default") == 2
    assert _status(abandoned) == _status(vanished) == TaskResultStatus.READY
    assert set(DBTaskResult.objects.ready().values_list("pk", flat=True)) == {abandoned.pk, vanished.pk}
    assert services.tasks_reclaim(backend_name="default") == 0  # idempotent


@pytest.mark.django_db
def test_a_task_of_a_live_worker_or_one_just_started_is_left_alone():
    services.worker_beat(worker_id="alive")
    long_task = _running(worker_id="alive", started=timedelta(hours=1))
    just_claimed = _running(worker_id="not-beaten-yet", started=timedelta(seconds=1))

    assert services.tasks_reclaim(backend_name="default") == 0
    assert _status(long_task) == _status(just_claimed) == TaskResultStatus.RUNNING


@pytest.mark.django_db
def test_a_task_that_killed_five_workers_is_marked_failed_not_run_again():
    poison = _running(worker_id="dead-last", started=timedelta(minutes=5), claims=services.MAX_CLAIMS)
    assert services.tasks_reclaim(backend_name="default") == 0
    poison.refresh_from_db()
    assert poison.status == TaskResultStatus.FAILED
    assert "5 workers that ran this task stopped" in poison.traceback


@pytest.mark.django_db(transaction=True)
def test_of_workers_reclaiming_at_once_one_resets_the_task():
    row = _running(worker_id="killed", started=timedelta(minutes=5))
    results: list[int] = []
    start = threading.Barrier(4)

    def reclaim() -> None:
        start.wait()
        try:
            results.append(services.tasks_reclaim(backend_name="default"))
        finally:
            connection.close()

    threads = [threading.Thread(target=reclaim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 1]
    assert _status(row) == TaskResultStatus.READY


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_dead_workers_task_and_leaves_no_heartbeat_behind():
    RAN.clear()
    row = _running(worker_id="killed", started=timedelta(minutes=5))
    with override_settings(TASKS=DATABASE_TASKS):
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--worker-id", "w2")
    row.refresh_from_db()
    assert row.status == TaskResultStatus.SUCCESSFUL
    assert row.worker_ids == ["killed", "w2"]
    assert RAN == ["x"]
    assert not WorkerHeartbeat.objects.exists()  # a clean stop says so at once


ATTEMPTS: list[int] = []


@task()
def away_once() -> str:
    """Fails as a failover would fail it the first time (the connection lost), then succeeds."""
    ATTEMPTS.append(len(ATTEMPTS))
    if len(ATTEMPTS) == 1:
        import psycopg
        from django.db import OperationalError

        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.OperationalError as error:
            raise OperationalError(*error.args) from error
    return "done"


@pytest.mark.django_db(transaction=True)
def test_a_task_the_database_going_away_interrupted_runs_again_instead_of_failing():
    # The library's loop would record it failed (or die trying); ours queues it again, waits,
    # and the same worker process runs it once the database is back.
    ATTEMPTS.clear()
    with override_settings(TASKS=DATABASE_TASKS):
        result = away_once.enqueue()
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--worker-id", "w3")
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == TaskResultStatus.SUCCESSFUL
    assert ATTEMPTS == [0, 1]
    assert row.worker_ids == ["w3", "w3"]


@pytest.mark.django_db
def test_a_worker_back_from_an_outage_requeues_its_own_running_tasks_and_no_one_elses():
    # Its claim committed though the worker saw the commit fail: RUNNING in its name, run by no one.
    mine = _running(worker_id="w4", started=timedelta(seconds=1))
    theirs = _running(worker_id="alive", started=timedelta(seconds=1))
    assert services.tasks_requeue_own(worker_id="w4", backend_name="default") == 1
    assert _status(mine) == TaskResultStatus.READY
    assert _status(theirs) == TaskResultStatus.RUNNING
