"""The soak (`make soak`, `make soak-ci`): mixed load on three gunicorn workers, two db_workers
and PostgreSQL, then every acknowledged event stored exactly once, every alert fired once and
every export day written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from demo.soak import percentile

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(
    not POSTGRES, reason="PostgreSQL-only: the soak drives gunicorn against a PostgreSQL database of its own"
)


@postgres_only
def test_a_short_soak_loses_nothing_answers_no_5xx_and_exits_0(tmp_path):
    name = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
    summary_path = tmp_path / "soak.json"
    soak = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "soak",
            "--short",
            "--concurrency",
            "3",
            "--database",
            f"test_{name}_soak",
        ]
        + ["--json", str(summary_path), "--log-dir", str(tmp_path)],
        cwd=ROOT,
        # The command only orchestrates: DEBUG=1 spares it a SECRET_KEY. The gunicorn and the
        # worker it starts run with DEBUG=0 and a key of their own.
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = json.loads(summary_path.read_text())
    assert soak.returncode == 0, soak.stdout[-4000:] + soak.stderr[-4000:]
    assert summary["ok"] and summary["failures"] == []
    verification = summary["verification"]
    assert verification["acknowledged"] > 0
    assert verification["stored_of_acknowledged"] == verification["acknowledged"]
    assert verification["lost"] == verification["duplicated_ids"] == verification["refused_but_stored"] == 0
    endpoints = summary["endpoints"]
    assert all(endpoints[name]["requests"] > 0 for name in ("ingest", "list_events", "events_page", "login"))
    assert sum(figures["server_errors"] for figures in endpoints.values()) == 0
    assert summary["tracebacks"] == {"gunicorn": [], "worker-1": [], "worker-2": []}
    assert summary["process_exits"] == {"db_worker-1": 0, "db_worker-2": 0, "gunicorn": 0}
    # Two db_workers side by side: each alert fired and e-mailed once, none missed; each export
    # day written once and whole; nothing failed or left queued.
    background = summary["background"]
    assert summary["config"]["db_workers"] == 2 and summary["config"]["gunicorn_workers"] == 3
    assert background["alerts"] > 0
    assert background["alerts_fired_twice"] == background["alerts_missed"] == 0
    assert background["alert_emails_sent_twice"] == background["alerts_not_emailed"] == 0
    assert background["export_days"] == background["export_days_expected"]
    assert background["export_days_wrong"] == []
    assert background["failed_tasks"] == background["left_after_drain"] == 0
    # Three gunicorn workers, one count: /metrics saw every event the servers recorded.
    assert background["events_in_metrics"] == background["events_recorded_by_servers"] > 0
    assert "p99 ms" in soak.stdout and "requests/s" in soak.stdout


@postgres_only
@pytest.mark.parametrize("database", ["configured", "audit_trail_production"])
def test_the_soak_never_drops_the_configured_database_nor_one_not_named_for_it(tmp_path, database):
    if database == "configured":
        database = connection.settings_dict["NAME"]
    with pytest.raises(CommandError, match="drops its database"):
        call_command(
            "soak", "--database", database, "--json", str(tmp_path / "s.json"), "--log-dir", str(tmp_path)
        )
    assert json.loads((tmp_path / "s.json").read_text())["ok"] is False


@pytest.mark.skipif(POSTGRES, reason="SQLite-only")
def test_the_soak_on_sqlite_says_it_needs_postgresql(tmp_path):
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("soak", "--json", str(tmp_path / "s.json"), "--log-dir", str(tmp_path))


def test_latency_percentiles_are_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile([0.2], 99) == 0.2
    assert percentile([], 50) == 0.0
