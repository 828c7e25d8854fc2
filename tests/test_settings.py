from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL setting")
def test_postgresql_sessions_run_without_jit():
    # JIT compilation only slowed the wide scans (free text, CIDR over 30 days) in bench_events.
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def _import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import config.settings in a fresh interpreter with exactly these key/debug variables."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print('started', len(s.SECRET_KEY))"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DEBUG": "0"},
        {"DEBUG": "0", "SECRET_KEY": ""},
        {"DEBUG": "false", "SECRET_KEY": "   "},
        {"DEBUG": "0", "SECRET_KEY": "insecure-dev-key-change-me"},
        {"DEBUG": "0", "SECRET_KEY": "django-insecure-abc"},
    ],
    ids=["unset", "debug-off", "empty", "blank", "the-dev-key", "startproject-key"],
)
def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off(env):
    result = _import_settings(env)
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr and "SECRET_KEY_FILE" in result.stderr


def test_settings_refuse_to_start_with_an_empty_or_missing_secret_key_file(tmp_path):
    empty = tmp_path / "key"
    empty.write_text("\n")
    assert "SECRET_KEY_FILE" in _import_settings({"DEBUG": "0", "SECRET_KEY_FILE": str(empty)}).stderr
    missing = _import_settings({"DEBUG": "0", "SECRET_KEY_FILE": str(tmp_path / "nope")})
    assert missing.returncode != 0
    assert "SECRET_KEY_FILE" in missing.stderr and "cannot be read" in missing.stderr


def test_settings_start_with_a_secret_key_from_the_environment_or_a_file(tmp_path):
    key = secrets.token_urlsafe(50)
    assert _import_settings({"DEBUG": "0", "SECRET_KEY": key}).stdout.strip() == f"started {len(key)}"
    path = tmp_path / "key"
    path.write_text(key + "\n")
    assert (
        _import_settings({"DEBUG": "0", "SECRET_KEY_FILE": str(path)}).stdout.strip() == f"started {len(key)}"
    )


def test_a_local_debug_run_starts_without_a_secret_key():
    result = _import_settings({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("started")


def _databases(env: dict[str, str]) -> dict:
    probe = "import json, config.settings as s; print(json.dumps(s.DATABASES))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_runtime_connection_bounds_statements_and_lock_waits_from_the_environment():
    url = "postgres://app@db.internal/audit"
    defaults = _databases({"DATABASE_URL": url})
    assert (
        defaults["default"]["OPTIONS"]["options"]
        == "-c jit=off -c statement_timeout=30000 -c lock_timeout=5000 -c work_mem=16MB"
    )
    assert "owner" not in defaults
    tuned = _databases(
        {
            "DATABASE_URL": url,
            "DB_STATEMENT_TIMEOUT_MS": "1500",
            "DB_LOCK_TIMEOUT_MS": "250",
            "PG_JIT": "1",
            "DB_WORK_MEM": "64MB",
        }
    )
    assert (
        tuned["default"]["OPTIONS"]["options"]
        == "-c statement_timeout=1500 -c lock_timeout=250 -c work_mem=64MB"
    )
    server_default = _databases({"DATABASE_URL": url, "DB_WORK_MEM": ""})
    assert "work_mem" not in server_default["default"]["OPTIONS"]["options"]


def test_the_owner_url_is_a_second_alias_without_the_runtime_bounds():
    databases = _databases(
        {"DATABASE_URL": "postgres://app@db/audit", "DATABASE_OWNER_URL": "postgres://owner@db/audit"}
    )
    assert (databases["default"]["USER"], databases["owner"]["USER"]) == ("app", "owner")
    assert databases["owner"]["OPTIONS"]["options"] == "-c jit=off"
    assert databases["owner"]["TEST"] == {"MIRROR": "default"}


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL setting")
def test_postgresql_sessions_run_with_the_default_statement_and_lock_timeouts():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
        assert cursor.fetchone() == ("30s", "5s")


def test_a_multi_host_database_url_reaches_libpq_with_every_host_and_its_target():
    # pg_auto_failover's primary, wherever it is after a failover: libpq tries each host in turn.
    databases = _databases(
        {
            "DATABASE_URL": "postgres://app:s3cret@10.0.0.1:6001,10.0.0.2:6002,[fd00::3]:6003/audit"
            "?target_session_attrs=read-write&sslmode=require"
        }
    )
    default = databases["default"]
    assert (default["HOST"], default["PORT"]) == ("10.0.0.1,10.0.0.2,fd00::3", "6001,6002,6003")
    assert (default["USER"], default["PASSWORD"], default["NAME"]) == ("app", "s3cret", "audit")
    assert default["OPTIONS"]["target_session_attrs"] == "read-write"
    assert default["OPTIONS"]["sslmode"] == "require"
    assert default["CONN_HEALTH_CHECKS"] is True  # a connection a failover killed is replaced
    assert "replica" not in databases
    # A host without a port takes libpq's default, so that the two lists stay the same length.
    one_port = _databases({"DATABASE_URL": "postgres://app@a:6001,b/audit"})["default"]
    assert (one_port["HOST"], one_port["PORT"]) == ("a,b", "6001,5432")


def test_the_replica_url_is_an_alias_with_a_short_connect_timeout_that_is_never_migrated():
    databases = _databases(
        {
            "DATABASE_URL": "postgres://app@a:6001,b:6002/audit?target_session_attrs=read-write",
            "DATABASE_REPLICA_URL": "postgres://app@a:6001,b:6002/audit?target_session_attrs=prefer-standby",
        }
    )
    replica = databases["replica"]
    assert (replica["HOST"], replica["PORT"]) == ("a,b", "6001,6002")
    assert replica["OPTIONS"]["target_session_attrs"] == "prefer-standby"
    assert replica["OPTIONS"]["connect_timeout"] == 2
    assert replica["OPTIONS"]["options"] == databases["default"]["OPTIONS"]["options"]  # same bounds
    assert replica["TEST"] == {"MIRROR": "default"}
