"""`manage.py db_worker`: django-tasks-db's worker, plus what it lacks to survive a dead process.

Beside the library's loop, a maintenance thread (with its own database connection, so that a
long task never looks like a dead worker):
- beats this worker's heartbeat every TASKS_WORKER_HEARTBEAT seconds;
- puts back to READY the tasks of workers that stopped beating (`worker.services.tasks_reclaim`);
- every TASKS_WORKER_SWEEP_INTERVAL seconds, runs the sweeps named in TASKS_WORKER_SWEEPS, which
  enqueue again the work whose task was lost (e.g. an alert e-mail left pending).

The worker's options are the library's; this command wins over it because the `worker` app comes
first in INSTALLED_APPS.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.db import Error, connection
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django.utils.module_loading import import_string
from django_tasks_db.management.commands import db_worker as library

from core.replication import database_unavailable
from worker import services

logger = logging.getLogger("worker")

TASKS_WORKER_SWEEP_INTERVAL = 60  # seconds, the default of the setting of the same name


class Maintenance(threading.Thread):
    """The worker's heartbeat, reclaim and sweeps, off the main thread."""

    def __init__(self, *, worker_id: str, backend_name: str) -> None:
        super().__init__(name=f"db_worker-{worker_id[:8]}-maintenance", daemon=True)
        self.worker_id = worker_id
        self.backend_name = backend_name
        self.stopping = threading.Event()
        self.sweeps: list[Callable[[], Any]] = [
            import_string(path) for path in getattr(settings, "TASKS_WORKER_SWEEPS", [])
        ]
        self.sweep_interval = float(
            getattr(settings, "TASKS_WORKER_SWEEP_INTERVAL", TASKS_WORKER_SWEEP_INTERVAL)
        )
        self.next_sweep = 0.0

    def run(self) -> None:
        try:
            while not self.stopping.wait(services.heartbeat_interval()):
                try:
                    self.tick()
                except Exception:  # a dead heartbeat thread would get our tasks reclaimed
                    logger.exception("Worker %s: maintenance failed", self.worker_id)
                    connection.close()
        finally:
            connection.close()

    def tick(self) -> None:
        try:
            services.worker_beat(worker_id=self.worker_id)
            services.tasks_reclaim(backend_name=self.backend_name)
        except Error as exc:  # the database is away: beat again next time
            logger.warning("Worker %s: heartbeat failed: %s", self.worker_id, exc)
            connection.close()
            return
        if time.monotonic() < self.next_sweep:
            return
        self.next_sweep = time.monotonic() + self.sweep_interval
        for sweep in self.sweeps:
            try:
                sweep()
            except Exception:  # one failing sweep must not stop the heartbeat
                logger.exception("Worker %s: sweep %s failed", self.worker_id, sweep)
                connection.close()

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=10)


class Worker(library.Worker):
    """The library's worker, plus the maintenance thread, and a loop that outlives a failover.

    The library's loop stops the process at the first database error that is not SQLite's
    "locked". When the database is only away for now (`database_unavailable`: a failover, a
    restart), this one waits, reconnects and goes on. Then, since it runs nothing at that moment,
    every task still RUNNING in its name goes back to the queue (`tasks_requeue_own`): one the
    outage interrupted, one whose outcome could not be saved, one that failed only because the
    database went away (never marked failed), and one whose claim committed though its answer
    was lost. Tasks are idempotent: run again, never lost."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recovering = False

    def run(self) -> None:
        maintenance = Maintenance(worker_id=self.worker_id, backend_name=self.backend_name)
        # Once before the first claim: our heartbeat exists before any task of ours, and the
        # abandoned tasks are back in the queue before a --batch run looks at it.
        maintenance.tick()
        maintenance.start()
        try:
            while True:
                try:
                    if self.recovering:
                        services.tasks_requeue_own(worker_id=self.worker_id, backend_name=self.backend_name)
                        self.recovering = False
                    super().run()
                    break
                except Error as exc:
                    if not (self.running and database_unavailable(exc)):
                        raise
                    logger.warning("Worker %s: the database is away (%s); retrying", self.worker_id, exc)
                    self.recovering = True
                    connection.close()
                    time.sleep(max(self.interval, 1.0))
        finally:
            maintenance.stop()
            try:
                services.worker_forget(worker_id=self.worker_id)
            except Error:
                pass  # its heartbeat goes stale instead

    def run_task(self, db_task_result: Any) -> None:
        recorded_failure = db_task_result.set_failed

        def set_failed(exc: BaseException) -> None:
            if database_unavailable(exc):
                raise exc  # not the task's fault: out of the library's loop, into ours
            recorded_failure(exc)

        db_task_result.set_failed = set_failed
        super().run_task(db_task_result)


class Command(library.Command):
    help = "Run a database background worker that also takes up the tasks of workers that died"

    def handle(
        self,
        *,
        verbosity: int,
        queue_name: str,
        interval: float,
        batch: bool,
        backend_name: str,
        startup_delay: bool,
        reload: bool,
        max_tasks: int | None,
        worker_id: str,
        exclude_queues: str,
        **options: Any,
    ) -> None:
        # As the library's handle(), with our Worker.
        self.configure_logging(verbosity)
        if reload and batch:
            library.logger.warning(
                "Warning: --reload and --batch cannot be specified together. Disabling autoreload."
            )
            reload = False
        queue_names = queue_name.split(",")
        excluded_queue_names = exclude_queues.split(",") if exclude_queues else []
        if excluded_queue_names and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = Worker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=excluded_queue_names,
        )
        if reload:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                worker.configure_signals()  # only the child process handles signals
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            worker.run()
