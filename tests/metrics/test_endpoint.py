"""`/metrics`: closed unless configured, then Prometheus' text format with what an operator
watches: requests per view, events and refusals per organization, alerts, e-mails, the task
queue and exports, all read right after the thing they count happened."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from alerts.models import Alert
from exports.models import ExportDay, ExportJob
from metrics.collectors import DatabaseCollector
from tests.alerts.conftest import activate, forbidden_events
from tests.api.conftest import wire_event
from tests.metrics.conftest import TOKEN, scrape, value
from worker.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db
INGEST = "/x/audit-trail/v1/events"


def test_the_metrics_are_closed_when_neither_a_token_nor_an_allow_list_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_a_scraper_without_the_token_is_refused(client, metrics_token):
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=0.0.4")
    assert client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


def test_the_allow_list_admits_only_its_addresses(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 403
    # A forged X-Forwarded-For from an untrusted peer is not believed.
    forged = Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert forged.get("/metrics").status_code == 403


def test_with_both_set_a_scrape_needs_the_address_and_the_token(settings, metrics_token):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 401
    assert Client(REMOTE_ADDR="192.0.2.1").get("/metrics", headers=bearer).status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", headers=bearer).status_code == 200


def test_requests_are_counted_and_timed_per_view(client, metrics_token):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/health/").status_code == 200
    client.get("/no-such-page/")
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("audit_trail_http_requests_total", route="health", method="GET", status="200") == 3
    assert delta("audit_trail_http_request_duration_seconds_count", route="health", method="GET") == 3
    assert delta("audit_trail_http_requests_total", route="<unresolved>", method="GET", status="404") == 1


def test_ingested_events_and_refusals_are_counted_per_organization_and_region(
    client, metrics_token, acme, writer_api, member_api, django_capture_on_commit_callbacks
):
    org = str(acme.pk)
    before = scrape(client)
    batch = [wire_event(acme) for _ in range(7)] + [
        wire_event(acme, locality="nl-ams", status_code=403) for _ in range(2)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = writer_api.post(INGEST, json.dumps({"events": batch}), content_type="application/json")
        assert response.json()["created"] == 9
        # the same batch again stores nothing, and counts nothing
        assert (
            writer_api.post(INGEST, json.dumps({"events": batch}), content_type="application/json").json()[
                "created"
            ]
            == 0
        )
        # a member without rights is refused, and the refusal is recorded (and counted)
        assert member_api.get("/audit-trail/v1alpha1/regions/fr-par/events").status_code == 403
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("audit_trail_events_recorded_total", organization=org, region="fr-par") == 7 + 1
    assert delta("audit_trail_events_recorded_total", organization=org, region="nl-ams") == 2
    assert delta("audit_trail_refusals_total", organization=org, region="fr-par") == 1
    assert delta("audit_trail_refusals_total", organization=org, region="nl-ams") == 2
    assert (
        delta("audit_trail_http_requests_total", route="api-ingest-events", method="POST", status="200") == 2
    )


def test_alerts_emails_tasks_and_exports_are_read_from_the_database(
    client, metrics_token, acme, django_capture_on_commit_callbacks
):
    activate(acme, "HttpForbiddenErrorRateHigh")
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 25, spacing=timedelta(seconds=1))
    [alert] = Alert.objects.filter(organization=acme)
    Alert.objects.filter(pk=alert.pk).update(notification_status="failed")
    job = ExportJob.objects.create(
        organization=acme,
        region="fr-par",
        name="daily",
        bucket="b",
        s3_region="fr-par",
        last_status="failure",
        failures=2,
    )
    ExportDay.objects.create(job=job, day=timezone.now().date(), key="k", events=12)

    scraped = scrape(client)

    assert value(scraped, "audit_trail_database_up") == 1
    assert (
        value(
            scraped,
            "audit_trail_alerts_fired_total",
            organization=str(acme.pk),
            region="fr-par",
            rule=alert.rule_name,
            severity=alert.severity,
        )
        == 1
    )
    assert value(scraped, "audit_trail_emails_failed_total", kind="alert") == 1
    assert value(scraped, "audit_trail_export_jobs", outcome="failure") == 1
    assert value(scraped, "audit_trail_export_jobs_failing") == 1
    assert value(scraped, "audit_trail_export_days_total", region="fr-par") == 1
    assert value(scraped, "audit_trail_exported_events_total", region="fr-par") == 12


def test_a_waiting_task_shows_its_age(client, metrics_token):
    DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="alerts.tasks.alert_notify",
        queue_name="default",
        backend_name="default",
        run_after=timezone.now() - timedelta(minutes=10),
        status="READY",
    )
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(minutes=10))
    scraped = scrape(client)
    assert value(scraped, "audit_trail_tasks_ready", queue="default") == 1
    assert 600 <= value(scraped, "audit_trail_tasks_oldest_ready_age_seconds", queue="default") < 700


def test_registering_the_database_collector_runs_no_query():
    with CaptureQueriesContext(connection) as queries:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(DatabaseCollector())
    assert len(queries) == 0


def test_promtool_finds_our_output_clean(
    client, metrics_token, acme, writer_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        writer_api.post(INGEST, json.dumps({"events": [wire_event(acme)]}), content_type="application/json")
    client.get("/health/")
    body = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/ensure-prometheus installs Debian's prometheus"
    checked = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b"", checked.stdout + checked.stderr


class SealingLag:
    """What the sealing app would plug in through METRICS_COLLECTORS (describe() without a query)."""

    def describe(self):
        return [GaugeMetricFamily("audit_trail_sealing_lag_seconds", "Oldest unsealed event's age.")]

    def collect(self):
        from audit.models import Event

        family = GaugeMetricFamily("audit_trail_sealing_lag_seconds", "Oldest unsealed event's age.")
        family.add_metric([], float(Event.objects.count()))
        return [family]


def test_another_app_adds_its_collector_through_the_settings(client, metrics_token, settings, acme):
    settings.METRICS_COLLECTORS = ["tests.metrics.test_endpoint.SealingLag"]
    with CaptureQueriesContext(connection) as queries:
        described = [family.name for family in DatabaseCollector().describe()]
    assert "audit_trail_sealing_lag_seconds" in described and len(queries) == 0
    forbidden_events(acme, 3)
    assert value(scrape(client), "audit_trail_sealing_lag_seconds") == 3


def test_the_workers_alive_and_silent_are_counted_from_their_heartbeats(client, metrics_token, settings):
    settings.TASKS_WORKER_TIMEOUT = 60
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="a", seen_at=now - timedelta(seconds=5))
    WorkerHeartbeat.objects.create(worker_id="b", seen_at=now - timedelta(seconds=30))
    WorkerHeartbeat.objects.create(worker_id="dead", seen_at=now - timedelta(minutes=5))
    scraped = scrape(client)
    assert value(scraped, "audit_trail_workers", state="alive") == 2
    assert value(scraped, "audit_trail_workers", state="silent") == 1
