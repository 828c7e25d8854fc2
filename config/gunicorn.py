"""gunicorn's settings for production: `gunicorn -c config/gunicorn.py config.wsgi`.

Several workers share nothing per process that matters (throttles live in the shared cache, tasks
in the database), except the request metrics, which each worker counts on its own: here they go
to files in PROMETHEUS_MULTIPROC_DIR that `/metrics`, in whichever worker answers, sums. The
directory is emptied when gunicorn starts (a previous run's counts are not this one's), and a
dead worker's files are marked so that its live gauges go with it while its counts stay.
Unset, a fresh temporary directory is used. Give each gunicorn master a directory of its own:
it empties the directory when it starts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

# Set before any worker imports prometheus_client: it picks its storage once, at import.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="audit-trail-metrics-")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS") or 3)
timeout = 60
graceful_timeout = 10


def on_starting(server: Any) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # unannotated upstream
