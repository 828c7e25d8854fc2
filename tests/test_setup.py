"""The set-up a new user relies on: `make run`, `make test` and `.ci/run` (README "Two commands")."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("iam_user", "audit_event", "iam_group", "audit_authenticationevent")


def _run(*args: str, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def test_find_python_picks_a_python_of_at_least_3_12_without_pyenv_shims():
    found = _run("scripts/find-python", env={"PATH": "/usr/bin:/bin"})
    assert found.returncode == 0, found.stderr
    version = _run(found.stdout.strip(), "-c", "import sys; print(sys.version_info[:2] >= (3, 12))")
    assert version.stdout.strip() == "True"


def test_a_set_but_empty_database_url_means_sqlite_not_the_dummy_backend():
    probe = "from config import settings; print(settings.DATABASES['default']['ENGINE'])"
    result = _run(sys.executable, "-c", probe, env={"DATABASE_URL": ""})
    assert result.stdout.strip() == "django.db.backends.sqlite3", result.stderr


def test_make_run_migrates_loads_the_demo_and_serves_with_the_task_worker():
    dry_run = _run("make", "-n", "run")
    assert dry_run.returncode == 0, dry_run.stderr
    steps = [line for line in dry_run.stdout.splitlines() if "manage.py" in line or "scripts/serve" in line]
    assert [re.sub(r"^\S*python\S* ", "", step) for step in steps] == [
        "manage.py migrate --noinput",
        "manage.py seed_demo",
        "scripts/serve",
    ]
    serve = (ROOT / "scripts/serve").read_text()
    assert "manage.py db_worker" in serve
    assert "manage.py runserver 127.0.0.1:8000" in serve


def test_the_local_make_recipes_run_with_debug_on_so_a_fresh_clone_needs_no_secret_key(tmp_path):
    # settings.py refuses DEBUG=0 without a SECRET_KEY; `make run` on a fresh clone has neither.
    # A second makefile replaces the recipes with one that prints what they would run under.
    probe = tmp_path / "probe.mk"
    probe.write_text("run seed worker:\n\t@echo DEBUG=$$DEBUG\n")
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "SECRET_KEY_FILE"}}
    result = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", str(probe), "run", "seed", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["DEBUG=1"] * 3, result.stderr
    assert 'DEBUG="${DEBUG:-1}"' in (ROOT / "scripts/serve").read_text()


def test_ci_runs_the_suite_on_postgresql_then_on_sqlite():
    ci = (ROOT / ".ci/run").read_text()
    postgres, sqlite = ci.index('DATABASE_URL="${CI_DATABASE_URL'), ci.index('DATABASE_URL="" make test')
    assert postgres < sqlite
    assert "chromium" in ci and "pg_isready" in ci


def test_the_make_run_steps_on_a_fresh_sqlite_database_twice_leave_one_demo(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    migrate = _run(sys.executable, "manage.py", "migrate", "--noinput", env=env)
    assert migrate.returncode == 0, migrate.stderr
    first = _run(sys.executable, "manage.py", "seed_demo", "--events", "500", env=env)
    assert first.returncode == 0, first.stderr
    assert "Recorded 500 events" in first.stdout and "auditor@acme.example" in first.stdout
    with sqlite3.connect(tmp_path / "fresh.sqlite3") as db:
        counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES]
    second = _run(sys.executable, "manage.py", "seed_demo", "--events", "500", env=env)
    assert second.returncode == 0, second.stderr
    assert "Demo already loaded" in second.stdout
    with sqlite3.connect(tmp_path / "fresh.sqlite3") as db:
        again = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES]
        trigger = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    assert again == counts
    users, events, groups, sign_ins = counts
    # 500 generated, plus what the demo does through the product itself: "Scaleway" creating each
    # organization's default groups, the IAM set-up, the API key, alerting.
    assert events > 500
    assert groups >= 2 * 3 + 2
    assert sign_ins > 0
    assert ("audit_event_no_update",) in trigger


def test_the_import_contracts_hold():
    """core imports no app, the layers point one way, audit imports neither alerts nor the worker
    (pyproject.toml, [tool.importlinter]); `make lint` runs the same check."""
    linted = _run(str(Path(sys.executable).parent / "lint-imports"), "--no-cache")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_make_lint_runs_ruff_the_import_contracts_and_mypy():
    recipe = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in recipe and "lint-imports" in recipe and "mypy" in recipe


def _fake_bin(tmp_path, **scripts: str):
    """A PATH of bash plus the given commands as small scripts: the machine the script sees."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash"))
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!{shutil.which('bash')}\n{body}\n")
        path.chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def _ensure_chromium(env):
    return subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts/ensure-chromium")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_test_sets_up_chromium_before_it_runs_the_suite():
    recipe = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = recipe.stdout.splitlines()
    assert lines.index("scripts/ensure-chromium") < next(
        i for i, line in enumerate(lines) if "pytest" in line
    )


def test_chromium_is_installed_with_apt_where_it_is_missing_and_the_machine_allows(tmp_path):
    env = _fake_bin(
        tmp_path,
        id="echo 0",
        **{
            "apt-get": f'echo "$@" >> {tmp_path}/apt.log\n'
            f'if [[ " $* " == *" install "* ]]; then '
            f'echo "#!/bin/sh" > {tmp_path}/bin/chromium; {shutil.which("chmod")} +x {tmp_path}/bin/chromium; fi'
        },
    )
    result = _ensure_chromium(env)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert "update" in calls[0]
    assert "install" in calls[1].split() and "chromium" in calls[1].split()


def test_without_apt_or_root_make_test_stops_at_once_naming_the_package(tmp_path):
    result = _ensure_chromium(_fake_bin(tmp_path, id="echo 1000"))
    assert result.returncode == 1
    assert "install the Debian package 'chromium'" in result.stderr


def test_a_chromium_already_there_is_used_as_it_is(tmp_path):
    env = _fake_bin(tmp_path, chromium="exit 0", **{"apt-get": f": > {tmp_path}/apt-called"})
    assert _ensure_chromium(env).returncode == 0
    assert not (tmp_path / "apt-called").exists()


def test_a_command_on_sqlite_prints_no_warning_about_the_covering_indexes(tmp_path):
    # SQLite ignores the events' covering-index columns, as designed; Django said so five times.
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    checked = _run(sys.executable, "manage.py", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "W040" not in checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout
