"""Metrics as production serves them: gunicorn with three workers (config/gunicorn.py, so that
every worker's counts land in one PROMETHEUS_MULTIPROC_DIR) on the test database, scraped
directly and by Debian's Prometheus with our example configuration."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from tests.api.conftest import api_key_for, wire_event
from tests.factories import ApplicationFactory, grant
from tests.metrics.conftest import TOKEN, samples, value

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db["HOST"] or "127.0.0.1"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, django_db_blocker, tmp_path_factory):
    port = _free_port()
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "metrics-multiprocess-test",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("multiproc")),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "3",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _request(port, "GET", "/health/")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text())
            time.sleep(0.2)
        yield port
    finally:
        _stop(process)


def _scrape(port: int) -> dict:
    status, body = _request(port, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    return samples(body.decode())


def _keys(acme, member):
    application = ApplicationFactory(organization=acme, name="log-shipper")
    grant(application, acme, "AuditTrailEventsWriter")
    return api_key_for(application, acme)[1], api_key_for(member, acme)[1]


def _ingest(port: int, secret: str, events: list) -> int:
    status, body = _request(
        port,
        "POST",
        "/x/audit-trail/v1/events",
        json.dumps({"events": events}).encode(),
        {"X-Auth-Token": secret, "Content-Type": "application/json"},
    )
    assert status == 200, body
    return json.loads(body)["created"]


def _refused(port: int, secret: str) -> None:
    status, body = _request(
        port, "GET", "/audit-trail/v1alpha1/regions/fr-par/events", headers={"X-Auth-Token": secret}
    )
    assert status == 403, body


@pytest.mark.django_db(transaction=True)
def test_every_scrape_sums_the_counts_of_every_gunicorn_worker(gunicorn, acme, member_without_rights):
    writer, member = _keys(acme, member_without_rights)
    org = str(acme.pk)
    before = _scrape(gunicorn)
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(
            status == 200
            for status, _ in pool.map(lambda _: _request(gunicorn, "GET", "/health/"), range(30))
        )
        created = sum(
            pool.map(lambda _: _ingest(gunicorn, writer, [wire_event(acme) for _ in range(5)]), range(12))
        )
        list(pool.map(lambda _: _refused(gunicorn, member), range(4)))
    assert created == 60

    # The summed output is as clean as one process's.
    status, body = _request(gunicorn, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    checked = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert status == 200 and checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == checked.stderr.strip() == b"", checked.stdout + checked.stderr

    # Whichever worker answers the scrape, it reports every worker's counts.
    for _ in range(6):
        after = _scrape(gunicorn)

        def delta(name, after=after, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        assert delta("audit_trail_http_requests_total", route="health", method="GET", status="200") == 30
        assert delta("audit_trail_http_request_duration_seconds_count", route="health", method="GET") == 30
        assert delta("audit_trail_events_recorded_total", organization=org, region="fr-par") == 60 + 4
        assert delta("audit_trail_refusals_total", organization=org, region="fr-par") == 4


def _prometheus_config(tmp_path: Path, port: int) -> Path:
    """Our example configuration, copied, pointed at the test's gunicorn and token, and scraping
    every second so that the test need not wait 15 s."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    shutil.copy(DEPLOY / "prometheus" / "alert-rules.yml", tmp_path / "alert-rules.yml")
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    replaced = {
        "/etc/prometheus/audit-trail-metrics-token": str(token_file),
        "127.0.0.1:8000": f"127.0.0.1:{port}",
        "scrape_interval: 15s": "scrape_interval: 1s",
    }
    for old, new in replaced.items():
        assert old in config, old
        config = config.replace(old, new)
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    checked = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return path


def _query(api_port: int, promql: str) -> float | None:
    url = f"http://127.0.0.1:{api_port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback, ours
        answer = json.load(response)
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.mark.django_db(transaction=True)
def test_prometheus_scrapes_our_example_configuration_and_counts_events_and_refusals(
    gunicorn, acme, member_without_rights, tmp_path
):
    assert shutil.which("prometheus"), "prometheus missing: scripts/ensure-prometheus installs it"
    writer, member = _keys(acme, member_without_rights)
    org = str(acme.pk)
    config = _prometheus_config(tmp_path, gunicorn)
    api_port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{api_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert _ingest(gunicorn, writer, [wire_event(acme) for _ in range(17)]) == 17
        _refused(gunicorn, member)
        _refused(gunicorn, member)
        events = f'sum(audit_trail_events_recorded_total{{job="audit-trail", organization="{org}"}})'
        refusals = f'sum(audit_trail_refusals_total{{job="audit-trail", organization="{org}"}})'
        deadline = time.monotonic() + 60
        seen: tuple = (None, None)
        while time.monotonic() < deadline:
            try:
                seen = (_query(api_port, events), _query(api_port, refusals))
            except OSError:
                seen = (None, None)  # not listening yet
            if seen == (19.0, 2.0):
                break
            time.sleep(0.5)
        assert seen == (19.0, 2.0), (tmp_path / "prometheus.log").read_text()[-3000:]
        assert _query(api_port, 'up{job="audit-trail"}') == 1.0
    finally:
        _stop(prometheus)
        log.close()


def test_the_example_alert_rules_are_valid_and_fire_as_their_tests_expect():
    rules = DEPLOY / "prometheus"
    checked = subprocess.run(
        ["promtool", "check", "rules", "alert-rules.yml"], cwd=rules, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    tested = subprocess.run(
        ["promtool", "test", "rules", "alert-rules.test.yml"], cwd=rules, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_and_the_rules_use_only_metrics_we_expose(gunicorn, acme, member_without_rights):
    """A renamed metric would leave a panel or an alert silently empty."""
    writer, member = _keys(acme, member_without_rights)
    _ingest(gunicorn, writer, [wire_event(acme)])
    _refused(gunicorn, member)
    status, body = _request(gunicorn, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    # Every family, those without a sample yet (no replica, no alert fired) included.
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body.decode(), re.MULTILINE))
    suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("", "_total")}
    exposed = {name + suffix for name, kind in families.items() for suffix in suffixes.get(kind, ("",))}
    exposed |= {"up"}
    dashboard = json.loads((DEPLOY / "grafana" / "audit-trail-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = (DEPLOY / "prometheus" / "alert-rules.yml").read_text()
    used = set(re.findall(r"\b(audit_trail_[a-z_]+|up)\b", " ".join(exprs) + rules))
    assert len(dashboard["panels"]) >= 10
    assert used - exposed == set()
