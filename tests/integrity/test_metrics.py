"""Sealing's lag on /metrics (integrity.metrics.SealingCollector, on by default)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from integrity.metrics import SEAL_TASK, SealingCollector
from integrity.models import TreeState
from integrity.services import seal
from tests.metrics.conftest import metrics_token, scrape, value  # noqa: F401  # metrics_token: a fixture

FAMILIES = {
    "audit_trail_sealing_tasks_waiting",
    "audit_trail_sealing_oldest_waiting_seconds",
    "audit_trail_sealing_sweep_age_seconds",
}


def waiting_task(task_path: str, *, age: timedelta) -> None:
    task = DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path=task_path,
        queue_name="default",
        backend_name="default",
        run_after=timezone.now() - age,
        status="READY",
    )
    DBTaskResult.objects.filter(pk=task.pk).update(enqueued_at=timezone.now() - age)


def test_the_sealing_collector_is_on_by_default_and_describes_itself_without_a_query(db) -> None:
    assert "integrity.metrics.SealingCollector" in django_settings.METRICS_COLLECTORS
    with CaptureQueriesContext(connection) as queries:
        assert {family.name for family in SealingCollector().describe()} == FAMILIES
    assert len(queries) == 0


def test_waiting_seal_tasks_show_how_long_events_have_waited(db, client, metrics_token, settings) -> None:  # noqa: F811
    settings.METRICS_COLLECTORS = ["integrity.metrics.SealingCollector"]
    scraped = scrape(client)
    assert value(scraped, "audit_trail_sealing_tasks_waiting") == 0
    assert value(scraped, "audit_trail_sealing_oldest_waiting_seconds") == 0
    waiting_task(SEAL_TASK, age=timedelta(seconds=90))
    waiting_task(SEAL_TASK, age=timedelta(seconds=10))
    waiting_task("alerts.tasks.alert_notify", age=timedelta(hours=1))  # not sealing's
    scraped = scrape(client)
    assert value(scraped, "audit_trail_sealing_tasks_waiting") == 2
    assert 90 <= value(scraped, "audit_trail_sealing_oldest_waiting_seconds") < 150


def test_each_organizations_last_sweep_age_is_shown(client, metrics_token, settings, acme) -> None:  # noqa: F811
    settings.METRICS_COLLECTORS = ["integrity.metrics.SealingCollector"]
    seal(acme.pk)  # a sweep
    TreeState.objects.filter(organization_id=acme.pk).update(swept_at=timezone.now() - timedelta(minutes=2))
    scraped = scrape(client)
    assert 120 <= value(scraped, "audit_trail_sealing_sweep_age_seconds", organization=str(acme.pk)) < 180


def test_a_scrape_reads_neither_the_events_nor_the_leaves(acme, django_capture_on_commit_callbacks) -> None:
    from tests.integrity.conftest import make_events

    with django_capture_on_commit_callbacks(execute=True):
        make_events(acme, 3)
    seal(acme.pk)
    with CaptureQueriesContext(connection) as queries:
        list(SealingCollector().collect())
    assert len(queries) == 2
    assert not any("audit_event" in q["sql"] or "integrity_leaf" in q["sql"] for q in queries)
