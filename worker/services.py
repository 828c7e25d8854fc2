"""The task worker's bookkeeping: heartbeats, taking up a dead worker's tasks, and the queue's depth.

django-tasks-db marks a task RUNNING when a worker claims it, and nothing ever looks at it again:
a worker killed mid-task leaves it RUNNING for good. Every `db_worker` of ours beats a heartbeat;
a RUNNING task whose worker has not beaten for `TASKS_WORKER_TIMEOUT` seconds goes back to READY,
and the next free worker runs it again (tasks are idempotent, DESIGN.md §3).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.tasks import Task, TaskResultStatus
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from worker.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

# Defaults of the settings of the same names, in seconds.
TASKS_WORKER_HEARTBEAT = 5
TASKS_WORKER_TIMEOUT = 60
# A task whose workers died this many times is not tried again: it may be what kills them.
MAX_CLAIMS = 5
# A heartbeat left by a worker that stopped this long ago is deleted.
FORGET_AFTER = timedelta(days=1)


def heartbeat_interval() -> float:
    return float(getattr(settings, "TASKS_WORKER_HEARTBEAT", TASKS_WORKER_HEARTBEAT))


def worker_timeout() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "TASKS_WORKER_TIMEOUT", TASKS_WORKER_TIMEOUT)))


def worker_beat(*, worker_id: str) -> None:
    """Say that this worker is alive. One UPDATE (an INSERT the first time)."""
    now = timezone.now()
    if not WorkerHeartbeat.objects.filter(pk=worker_id).update(seen_at=now):
        WorkerHeartbeat.objects.update_or_create(
            pk=worker_id,
            defaults={"seen_at": now},
            create_defaults={"hostname": socket.gethostname()[:255], "pid": os.getpid(), "seen_at": now},
        )


def worker_forget(*, worker_id: str) -> None:
    """A worker stopping cleanly: its unfinished tasks (if any) may be taken up at once."""
    WorkerHeartbeat.objects.filter(pk=worker_id).delete()


def tasks_reclaim(*, backend_name: str) -> int:
    """Put back to READY the RUNNING tasks of `backend_name` whose worker stopped beating.

    A task is taken up when it started more than a timeout ago and its last worker's heartbeat is
    older than that, or missing. Each task is reset by one UPDATE conditional on the start time it
    was seen with, so of two workers reclaiming at once one wins, and a task that another worker
    has claimed again since is left alone. A task that killed MAX_CLAIMS workers is marked failed.
    Returns how many tasks were reset. Costs two queries, plus one UPDATE per task reset.
    """
    now = timezone.now()
    cutoff = now - worker_timeout()
    running = list(
        DBTaskResult.objects.filter(
            status=TaskResultStatus.RUNNING, backend_name=backend_name, started_at__lte=cutoff
        ).values_list("pk", "started_at", "worker_ids", "task_path")
    )
    if not running:
        return 0
    alive = set(WorkerHeartbeat.objects.filter(seen_at__gt=cutoff).values_list("pk", flat=True))
    reset = 0
    for pk, started_at, worker_ids, task_path in running:
        if worker_ids and worker_ids[-1] in alive:
            continue
        same_run = DBTaskResult.objects.filter(pk=pk, status=TaskResultStatus.RUNNING, started_at=started_at)
        if len(worker_ids) >= MAX_CLAIMS:
            same_run.update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path="worker.services.WorkerLost",
                traceback=f"The {len(worker_ids)} workers that ran this task stopped before it finished.",
            )
            logger.error("Task %s (%s) killed %d workers; marked failed.", pk, task_path, len(worker_ids))
            continue
        if same_run.update(status=TaskResultStatus.READY):
            logger.warning(
                "Task %s (%s): its worker %s stopped; queued again.", pk, task_path, worker_ids[-1:]
            )
            reset += 1
    WorkerHeartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
    return reset


def tasks_queued(task: Task[..., Any], *, first_argument: str, limit: int) -> int:
    """How many runs of `task` with this first argument wait in the database queue, up to `limit`.

    0 on a backend that is not the database one. Costs one query over the READY tasks (bounded
    by `limit`).
    """
    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return 0
    waiting = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY,
        backend_name=backend.alias,
        task_path=task.module_path,
        args_kwargs__args__0=first_argument,
    )
    return waiting[:limit].count()


def tasks_requeue_own(*, worker_id: str, backend_name: str) -> int:
    """Put back to READY the RUNNING tasks of `backend_name` last claimed by `worker_id`, which
    runs none of them now: it is recovering from the database going away (a failover). The run
    it lost may have been interrupted, or have ended without its outcome saved, or its claim may
    have committed though the worker saw the commit fail. Tasks are idempotent: running one again
    is safe, leaving it RUNNING under a live worker would lose it (tasks_reclaim skips those).
    Each reset is conditional on the start time it was seen with, as in `tasks_reclaim`."""
    running = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, backend_name=backend_name
    ).values_list("pk", "started_at", "worker_ids")
    reset = 0
    for pk, started_at, worker_ids in list(running):
        if not worker_ids or worker_ids[-1] != worker_id:
            continue
        same_run = DBTaskResult.objects.filter(pk=pk, status=TaskResultStatus.RUNNING, started_at=started_at)
        if same_run.update(status=TaskResultStatus.READY):
            logger.warning("Task %s: the database went away while it ran; queued again.", pk)
            reset += 1
    return reset
