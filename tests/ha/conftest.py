"""The replicated PostgreSQL (tests/ha/cluster.py) for the suite's replica and failover tests.

One cluster for the session, migrated by `manage.py migrate` as a deployment would be. Tests
reach it in-process through `on_cluster`, which points the `default` alias at the primary (a
multi-host `read-write` URL) and adds the `replica` alias (`prefer-standby`), as DATABASE_URL
and DATABASE_REPLICA_URL do; or through real processes (gunicorn, db_worker) started with those
variables. Not transactional: each test makes an organization of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections
from django.db.utils import load_backend

from config.settings import database_config
from core import replication
from tests.ha.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]


def server_env(cluster: Cluster, **extra: str) -> dict[str, str]:
    """The environment of a production process on the cluster (gunicorn, db_worker, migrate).
    SECRET_KEY is the suite's (config.settings_test), so that a session made here is valid there."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    return (
        env
        | {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": cluster.url("read-write"),
            "DATABASE_REPLICA_URL": cluster.url("prefer-standby"),
            "DEBUG": "0",
            "SECURE_COOKIES": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            # Connections live across requests, as in production: a failover must be survived by
            # the health checks, not by reconnecting at every request.
            "CONN_MAX_AGE": "60",
        }
        | extra
    )


@pytest.fixture(scope="session")
def cluster():
    """A monitor, a primary and a standby, with the project's schema migrated on the primary.
    About 20 s to come up, 10 s to migrate, a few to go down (gone even when a test failed)."""
    began = time.monotonic()
    cluster = Cluster()
    try:
        subprocess.run([str(ROOT / "scripts" / "ensure-pg-auto-failover")], check=True)
        cluster.start()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=server_env(cluster),
            check=True,
            timeout=300,
        )
        cluster.ready_in = time.monotonic() - began
        print(f"\npg_auto_failover up in {cluster.started_in:.1f} s, migrated in {cluster.ready_in:.1f} s")
        yield cluster
    finally:
        cluster.stop()


def _wrapper(alias: str, url: str):
    settings = connections.configure_settings({"default": database_config(url, bounded=True)})["default"]
    return settings, load_backend(settings["ENGINE"]).DatabaseWrapper(settings, alias)


@pytest.fixture
def on_cluster(cluster, django_db_blocker, monkeypatch):
    """This process's `default` and `replica` aliases on the cluster for the test's length."""
    saved = connections["default"]
    _, primary = _wrapper("default", cluster.url("read-write"))
    replica_settings, replica = _wrapper("replica", cluster.url("prefer-standby"))
    replica_settings["OPTIONS"]["connect_timeout"] = 2  # as settings.py sets it
    with django_db_blocker.unblock():
        connections["default"] = primary
        connections.settings["replica"] = replica_settings
        connections["replica"] = replica
        replication.forget_replica_failure()
        replication.begin()
        try:
            yield cluster
        finally:
            for wrapper in (primary, replica):
                wrapper.close()
            connections["default"] = saved
            del connections["replica"]
            del connections.settings["replica"]
            replication.forget_replica_failure()
            replication.begin()


def use_replica(cluster: Cluster, target: str | int) -> None:
    """Point the `replica` alias at another URL (a port: that one node) for the test's length."""
    url = (
        cluster.url(target)
        if isinstance(target, str)
        else cluster.url("any").replace(
            ",".join(f"127.0.0.1:{n.port}" for n in cluster.nodes.values()), f"127.0.0.1:{target}"
        )
    )
    connections["replica"].close()
    settings, wrapper = _wrapper("replica", url)
    settings["OPTIONS"]["connect_timeout"] = 2
    connections.settings["replica"] = settings
    connections["replica"] = wrapper
    replication.forget_replica_failure()
