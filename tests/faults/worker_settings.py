"""Settings of the `db_worker` subprocess of the fault tests: production's, from the environment
(DATABASE_URL points at pytest's test database, EMAIL_PORT at the test's SMTP server), with the
worker's and e-mail's timings shortened so that each fault heals within seconds."""

from __future__ import annotations

from config.settings import *  # noqa: F403  # the real settings, amended

INSTALLED_APPS = [*INSTALLED_APPS, "tests.faults"]  # noqa: F405  # from config.settings
TASKS_WORKER_HEARTBEAT = 0.2
TASKS_WORKER_TIMEOUT = 1.5
TASKS_WORKER_SWEEP_INTERVAL = 1
EMAIL_DELIVERY_LEASE = 2
EMAIL_RETRY_DELAYS = (2,)
