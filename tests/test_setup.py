"""The set-up a new user relies on: `make run`, `make test` and `.ci/run` (README "Two commands")."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

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
    assert 'manage.py runserver $reload "$bind:$PORT"' in serve


def test_the_local_make_recipes_run_as_the_product_with_a_key_of_their_own_so_a_fresh_clone_needs_none(
    tmp_path,
):
    # DEBUG off, as the product runs (a wrong URL gets the product's 404), and settings.py refuses
    # DEBUG off without a SECRET_KEY, which a fresh clone has none of: the recipes bring their own,
    # generated once into .run/. A second makefile replaces the recipes with one that prints
    # what they would run under.
    probe = tmp_path / "probe.mk"
    probe.write_text("run seed worker:\n\t@echo DEBUG=$$DEBUG $$SECRET_KEY_FILE\n")
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "SECRET_KEY_FILE"}}
    result = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", str(probe), "run", "seed", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    key_file = ROOT / ".run/secret_key"
    assert result.stdout.splitlines() == [f"DEBUG=0 {key_file}"] * 3, result.stderr
    key = key_file.read_text()
    assert len(key) >= 50 and key_file.stat().st_mode & 0o077 == 0  # long, and only its owner reads it
    assert subprocess.run(
        ["scripts/local-key"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip() == str(key_file)
    assert key_file.read_text() == key  # made once: sessions outlive a restart
    probe_settings = (
        "from config import settings; print(settings.DEBUG, settings.SECRET_KEY == open(%r).read())"
    )
    loaded = _run(
        sys.executable,
        "-c",
        probe_settings % str(key_file),
        env={"DEBUG": "0", "SECRET_KEY_FILE": str(key_file)},
    )
    assert loaded.stdout.split() == ["False", "True"], loaded.stderr
    assert 'DEBUG="${DEBUG:-0}"' in (ROOT / "scripts/serve").read_text()
    # Told otherwise, they do as told: DEBUG=1 brings the debug pages back, a key given is used.
    told = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", str(probe), "run"],
        cwd=ROOT,
        env=env | {"DEBUG": "1", "SECRET_KEY": "a-key-of-my-own"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert told.stdout.split() == ["DEBUG=1"], told.stderr


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ({}, "postgres://postgres@127.0.0.1:5432/audit_trail_bench"),
        ({"DATABASE_URL": "postgres://h/mine"}, "postgres://h/mine"),
        (
            {"DATABASE_URL": "postgres://h/mine", "BENCH_DATABASE_URL": "postgres://h/bench"},
            "postgres://h/bench",
        ),
    ],
)
def test_make_bench_runs_on_the_bench_database_else_database_url_else_its_own(tmp_path, given, used):
    # On a fresh machine (no DATABASE_URL, no BENCH_DATABASE_URL) make once stopped here, at the
    # bench target's DATABASE_URL made from a variable that referred back to it.
    probe = tmp_path / "probe.mk"
    probe.write_text("bench:\n\t@echo $$DATABASE_URL\n")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BENCH_DATABASE_URL"}} | given
    result = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", str(probe), "bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.splitlines()[-1:] == [used], result.stderr


def test_ci_runs_the_suite_on_postgresql_then_on_sqlite():
    ci = (ROOT / ".ci/run").read_text()
    postgres, sqlite = ci.index('DATABASE_URL="${CI_DATABASE_URL'), ci.index('DATABASE_URL="" ')
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


def _root_packages() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        ("audit/_breach.py", "import alerts.models", "audit._breach -> alerts.models"),
        ("core/_breach.py", "import iam.models", "core._breach -> iam.models"),
        ("iam/models_breach.py", "import audit.selectors", "iam.models_breach -> audit.selectors"),
    ],
)
def test_breaking_a_contract_fails_the_import_check(tmp_path, module, line, named):
    """The check is not vacuous: a copy of the code with one import that breaks a contract fails it."""
    for package in _root_packages():
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(f"{line}\n")
    linted = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert linted.returncode != 0, linted.stdout
    assert "BROKEN" in linted.stdout and named in linted.stdout  # the offending import, by name


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


# --- `make run`, for real: a restart after console changes writes nothing and serves ------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Console:
    """A browser's worth of HTTP against a served console: cookies, and the CSRF token of forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def open(
        self, path: str, data: dict[str, str] | None = None, method: str | None = None
    ) -> tuple[int, str, dict]:
        body = None
        if data is not None:
            token = next(c.value for c in self.jar if c.name == "csrftoken")
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=body, method=method)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the test looks at each redirect itself
        return None


class Run:
    """`make run` (or its steps) as a process group of its own on a free port, stopped with Ctrl-C."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"{name}.log"
        self.db = tmp_path / "run.sqlite3"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS", "SITE_URL", "HOST"}
        }
        self.env = env | {
            "DATABASE_URL": f"sqlite:///{self.db}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PORT": str(self.port),
        }

    def start(self, *command: str) -> None:
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            ["bash", "-c", " && ".join(command)] if len(command) > 1 else [*command[0].split()],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the worker and the server stop with it
        )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.close()
                raise AssertionError(f"stopped with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.base + "/health/", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"did not serve within 240 s:\n{self.output()}")

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; the whole group is gone when this returns."""
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.log.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def query(self, sql: str, *params: str) -> list[tuple]:
        with sqlite3.connect(self.db, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def wait_for_the_worker(self) -> None:
        """Until the task worker has run every task queued so far (alert evaluation, sealing)."""
        deadline = time.monotonic() + 120
        while self.query(
            "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status IN ('READY', 'RUNNING')"
        )[0][0]:
            assert time.monotonic() < deadline, f"tasks still queued after 120 s:\n{self.output()}"
            time.sleep(0.5)


@pytest.mark.slow
def test_a_second_make_run_after_console_changes_writes_no_event_and_serves(tmp_path):
    run = Run(tmp_path, "first")
    python = ".venv/bin/python"
    # The first start: `make run`'s steps in its environment (test_make_run_migrates_loads_the_demo…
    # holds them to the Makefile), with a smaller demo to keep the test short.
    run.start(
        "export DEBUG=0 SECRET_KEY_FILE=$(scripts/local-key)",
        f"{python} manage.py migrate --noinput",
        f"{python} manage.py seed_demo --events 300",
        "scripts/serve",
    )
    assert "Recorded 300 events" in run.output()
    assert f"Demo logins (http://127.0.0.1:{run.port}/login/)" in run.output()  # SITE_URL follows PORT

    try:
        owner = Console(run.base)
        assert owner.open("/login/")[0] == 200
        status, _, headers = owner.open(
            "/login/", {"username": "owner@acme.example", "password": "audit-trail-demo"}
        )
        assert status == 302 and headers["Location"] != "/login/", (
            "the owner could not sign in with DEBUG off"
        )
        # Ordinary console actions: remove the IAM manager (the next start used to die on it), delete a group.
        [(manager_id,)] = run.query("SELECT id FROM iam_user WHERE email = 'iam-manager@acme.example'")
        [(developers_id,)] = run.query("SELECT id FROM iam_group WHERE name = 'Developers'")
        as_uuid = lambda hex_: str(uuid.UUID(hex_))  # noqa: E731  # SQLite keeps UUIDs as 32 hex digits
        assert owner.open(f"/iam/users/{as_uuid(manager_id)}/remove/", {})[0] == 302
        assert owner.open(f"/iam/groups/{as_uuid(developers_id)}/delete/", {})[0] == 302
        run.wait_for_the_worker()
    finally:
        run.stop()
    events = run.query("SELECT count(*) FROM audit_event")[0][0]
    tables = {table: run.query(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}

    again = Run(tmp_path, "second")
    again.env["DATABASE_URL"], again.db = run.env["DATABASE_URL"], run.db
    again.start("make run")
    try:
        again.wait_for_the_worker()
        visitor = Console(again.base)
        assert visitor.open("/login/")[0] == 200
        # It looks like the product: a mistyped URL gets the product's 404 page, styled, not
        # Django's debug page listing every route; static files are served with DEBUG off.
        status, page, _ = visitor.open("/iam/no-such-page/")
        assert status == 404 and "Not found" in page and "URLconf" not in page
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)
        assert stylesheet and visitor.open(stylesheet[1])[0] == 200
        # Health checks: HEAD / answers as GET does (to the login page), and /health/ answers.
        assert visitor.open("/", method="HEAD")[:1] == visitor.open("/")[:1] == (302,)
        assert visitor.open("/health/", method="HEAD")[:2] == (200, "")
    finally:
        again.stop()
    output = again.output()
    assert "Demo already loaded" in output and "nothing was written" in output, output
    assert "Error" not in output and "Traceback" not in output and "Warning" not in output, output
    assert again.query("SELECT count(*) FROM audit_event")[0][0] == events
    assert {table: again.query(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES} == tables
    assert not again.query("SELECT 1 FROM iam_group WHERE name = 'Developers'")
    assert again.query("SELECT removed_at IS NOT NULL FROM iam_membership WHERE user_id = ?", manager_id) == [
        (1,)
    ]


# --- where `make run` listens, and what it answers to ---------------------------------------------


def _serve(tmp_path: Path, **env: str) -> dict[str, str]:
    """scripts/serve, copied beside a stand-in Python that reports what the server is started with
    instead of starting it: the runserver arguments and the environment that matters."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/serve", tmp_path / "scripts/serve")
    (tmp_path / "scripts/local-key").write_text(f"#!/bin/sh\necho {tmp_path}/key\n")
    (tmp_path / "scripts/local-key").chmod(0o755)
    (tmp_path / ".venv/bin").mkdir(parents=True)
    (tmp_path / ".venv/bin/python").write_text(
        "#!/bin/sh\n"
        'case "$*" in *runserver*) echo "args=${*#manage.py runserver }";'
        ' for v in ALLOWED_HOSTS DEBUG SECURE_COOKIES STATIC_FROM_SOURCE SECRET_KEY_FILE HOST PORT; do eval "echo $v=\\$$v"; done ;; esac\n'
    )
    (tmp_path / ".venv/bin/python").chmod(0o755)
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS", "HOST", "PORT", "SECURE_COOKIES"}
    }
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts/serve")],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    served = dict(line.split("=", 1) for line in lines if re.fullmatch(r"[a-zA-Z_]+=.*", line))
    served["url"] = next(line.split()[2] for line in lines if line.startswith("Serving on "))
    return served


def test_make_run_serves_as_the_product_on_127_0_0_1_port_8000_by_default(tmp_path):
    served = _serve(tmp_path)
    assert served["args"] == "--noreload 127.0.0.1:8000"
    assert served["url"] == "http://127.0.0.1:8000"
    assert served["DEBUG"] == "0" and served["SECURE_COOKIES"] == "0"  # plain HTTP: cookies must come back
    assert served["STATIC_FROM_SOURCE"] == "1"  # WhiteNoise serves the source tree: no collectstatic
    assert served["SECRET_KEY_FILE"] == f"{tmp_path}/key"
    assert {"localhost", "127.0.0.1"} <= set(served["ALLOWED_HOSTS"].split(","))


def test_make_run_takes_port_and_host_and_answers_to_the_names_it_is_reached_by(tmp_path):
    served = _serve(tmp_path, HOST="0.0.0.0", PORT="9123")
    assert served["args"] == "--noreload 0.0.0.0:9123"
    assert served["url"] == f"http://{socket.gethostname()}:9123"
    # Listening on every address, it answers to this machine's name, as other machines call it.
    assert socket.gethostname() in served["ALLOWED_HOSTS"].split(",")


def test_make_run_puts_an_ipv6_host_in_brackets_and_keeps_what_it_is_told(tmp_path):
    served = _serve(tmp_path, HOST="::1", ALLOWED_HOSTS="audit.example", DEBUG="1")
    assert served["args"] == "[::1]:8000"  # DEBUG=1: the autoreloader, for working on the code
    assert served["url"] == "http://[::1]:8000"
    assert served["ALLOWED_HOSTS"] == "audit.example"


@pytest.mark.parametrize(
    ("env", "site_url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"HOST": "localhost", "PORT": "9000"}, "http://localhost:9000"),
        ({"HOST": "::1"}, "http://[::1]:8000"),
        ({"HOST": "0.0.0.0", "PORT": "8001"}, f"http://{socket.gethostname()}:8001"),
        ({"PORT": "8123", "SITE_URL": "https://audit.example.com/"}, "https://audit.example.com"),
    ],
)
def test_links_in_e_mails_follow_host_and_port_unless_site_url_is_set(env, site_url):
    clean = {k: v for k, v in os.environ.items() if k not in {"HOST", "PORT", "SITE_URL"}}
    probe = subprocess.run(
        [sys.executable, "-c", "from config import settings; print(settings.SITE_URL)"],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == site_url, probe.stderr


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


@pytest.mark.parametrize(
    ("env", "from_source"),
    [
        ({"DEBUG": "0"}, "False"),
        ({"DEBUG": "0", "STATIC_FROM_SOURCE": "1"}, "True"),
        ({"DEBUG": "1"}, "True"),
    ],
)
def test_production_serves_the_collected_static_files_and_make_run_the_source_tree(env, from_source):
    probe = "from config import settings as s; print(s.WHITENOISE_USE_FINDERS, s.WHITENOISE_AUTOREFRESH)"
    clean = {k: v for k, v in os.environ.items() if k != "STATIC_FROM_SOURCE"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == [from_source] * 2, result.stderr


def _ensure_prometheus(env):
    return subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts/ensure-prometheus")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_test_sets_up_prometheus_before_it_runs_the_suite():
    for target in ("test", "test-fast"):
        recipe = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        lines = recipe.stdout.splitlines()
        assert lines.index("scripts/ensure-prometheus") < next(
            i for i, line in enumerate(lines) if "pytest" in line
        )


def test_prometheus_is_installed_with_apt_where_it_is_missing_without_starting_its_service(tmp_path):
    tools = {name: shutil.which(name) for name in ("chmod", "rm", "cat")}
    policy = tmp_path / "policy-rc.d"
    env = _fake_bin(
        tmp_path,
        id="echo 0",
        **{
            "apt-get": f'echo "$@" >> {tmp_path}/apt.log\n'
            f'if [[ " $* " == *" install "* ]]; then {tools["cat"]} {policy} >> {tmp_path}/policy.log; '
            f'for b in prometheus promtool; do echo "#!/bin/sh" > {tmp_path}/bin/$b; '
            f"{tools['chmod']} +x {tmp_path}/bin/$b; done; fi",
            "chmod": f'{tools["chmod"]} "$@"',
            "rm": f'{tools["rm"]} "$@"',
        },
    )
    result = _ensure_prometheus(env | {"POLICY_RC_D": str(policy)})
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert "update" in calls[0]
    assert "install" in calls[1].split() and "prometheus" in calls[1].split()
    # While apt installed it, services were not to start (exit 101); the policy is gone after.
    assert "exit 101" in (tmp_path / "policy.log").read_text()
    assert not policy.exists()
    # Present: nothing to do.
    assert _ensure_prometheus(env | {"POLICY_RC_D": str(policy)}).returncode == 0
    assert len((tmp_path / "apt.log").read_text().splitlines()) == 2


def test_without_apt_or_root_the_prometheus_set_up_stops_at_once_naming_the_package(tmp_path):
    result = _ensure_prometheus(_fake_bin(tmp_path, id="echo 1000"))
    assert result.returncode == 1
    assert "install the Debian package 'prometheus'" in result.stderr


# --- pg_auto_failover for tests/ha, as Chromium: installed with apt where missing -------------


def _ensure_pg_auto_failover(env):
    return subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts/ensure-pg-auto-failover")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_test_sets_up_pg_auto_failover_before_it_runs_the_suite():
    recipe = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = recipe.stdout.splitlines()
    assert lines.index("scripts/ensure-pg-auto-failover") < next(
        i for i, line in enumerate(lines) if "pytest" in line
    )


def test_pg_auto_failover_is_installed_with_apt_where_it_is_missing_and_the_machine_allows(tmp_path):
    share = tmp_path / "share"
    env = _fake_bin(
        tmp_path,
        id="echo 0",
        **{
            "apt-get": f'echo "$@" >> {tmp_path}/apt.log\n'
            f'if [[ " $* " == *" install "* ]]; then '
            f'echo "#!/bin/sh" > {tmp_path}/bin/pg_autoctl; {shutil.which("chmod")} +x {tmp_path}/bin/pg_autoctl; '
            f"{shutil.which('mkdir')} -p {share}/extension; : > {share}/extension/pgautofailover.control; fi"
        },
    ) | {"PG_SHAREDIR": str(share)}
    result = _ensure_pg_auto_failover(env)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert "update" in calls[0]
    assert {"install", "postgresql-15-auto-failover", "pg-auto-failover-cli"} <= set(calls[1].split())


def test_without_apt_or_root_make_test_stops_at_once_naming_the_pg_auto_failover_packages(tmp_path):
    env = _fake_bin(tmp_path, id="echo 1000") | {"PG_SHAREDIR": str(tmp_path / "share")}
    result = _ensure_pg_auto_failover(env)
    assert result.returncode == 1
    assert "'postgresql-15-auto-failover' and 'pg-auto-failover-cli'" in result.stderr


def test_a_pg_auto_failover_already_there_is_used_as_it_is(tmp_path):
    (tmp_path / "share" / "extension").mkdir(parents=True)
    (tmp_path / "share" / "extension" / "pgautofailover.control").touch()
    env = _fake_bin(tmp_path, pg_autoctl="exit 0", **{"apt-get": f": > {tmp_path}/apt-called"})
    assert _ensure_pg_auto_failover(env | {"PG_SHAREDIR": str(tmp_path / "share")}).returncode == 0
    assert not (tmp_path / "apt-called").exists()
