"""Metrics read from the database at each scrape: the same figures whichever process, of however
many gunicorn workers and db_workers, did the work, since they are the database's own rows.

`describe()` names the families without a query, so that registering the collector (at start-up,
in MetricsConfig.ready) never touches the database: a registry calls `collect()` to learn the
names of a collector that has no `describe()`, and the app once hung at start-up doing that.
Each scrape costs a handful of queries, none over the events table: the waiting tasks through
their partial index, the workers' heartbeats, export jobs and days (a row per job and day), and
two grouped counts over the alerts table (one row per firing: its size grows with the alerts an
installation fires, thousands a year for a busy organization, read in milliseconds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Min, Sum
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.models import Alert
from exports.models import ExportDay, ExportJob
from iam.models import Invitation
from worker.models import Delivery, WorkerHeartbeat

logger = logging.getLogger(__name__)

# What a scrape reads for each family: (name, help, type, labels).
Family = GaugeMetricFamily | CounterMetricFamily
FAMILIES: tuple[tuple[str, str, type[Family], tuple[str, ...]], ...] = (
    (
        "audit_trail_database_up",
        "1 when the database answered this scrape's queries, else 0.",
        GaugeMetricFamily,
        (),
    ),
    (
        "audit_trail_alerts_fired",
        "Alerts fired (rows of the alerts table), by organization, region, rule and severity.",
        CounterMetricFamily,
        ("organization", "region", "rule", "severity"),
    ),
    (
        "audit_trail_emails_sent",
        "E-mails that SMTP accepted, by kind (alert, invitation).",
        CounterMetricFamily,
        ("kind",),
    ),
    (
        "audit_trail_emails_failed",
        "E-mails given up on after every retry, by kind (alert, invitation).",
        CounterMetricFamily,
        ("kind",),
    ),
    (
        "audit_trail_emails_pending",
        "E-mails still to send or being sent, by kind (alert, invitation).",
        GaugeMetricFamily,
        ("kind",),
    ),
    (
        "audit_trail_tasks_ready",
        "Background tasks waiting for a worker (ready to run, not yet taken), by queue.",
        GaugeMetricFamily,
        ("queue",),
    ),
    (
        "audit_trail_workers",
        "db_worker processes by state: alive (beat within TASKS_WORKER_TIMEOUT) or silent.",
        GaugeMetricFamily,
        ("state",),
    ),
    (
        "audit_trail_tasks_oldest_ready_age_seconds",
        "Age of the oldest task ready to run and not yet taken by a worker, by queue (0: none).",
        GaugeMetricFamily,
        ("queue",),
    ),
    (
        "audit_trail_export_jobs",
        "Export jobs by the outcome of their last run (success, failure, never).",
        GaugeMetricFamily,
        ("outcome",),
    ),
    (
        "audit_trail_export_jobs_failing",
        "Export jobs whose last runs failed in a row (their next run is backed off).",
        GaugeMetricFamily,
        (),
    ),
    (
        "audit_trail_export_days",
        "Days of events written by export jobs (each written once), by region.",
        CounterMetricFamily,
        ("region",),
    ),
    (
        "audit_trail_exported_events",
        "Events written by export jobs, by region.",
        CounterMetricFamily,
        ("region",),
    ),
    (
        "audit_trail_replica_lag_seconds",
        "How far each streaming replica's replay is behind the primary (pg_stat_replication.replay_lag).",
        GaugeMetricFamily,
        ("replica",),
    ),
)
EMAIL_KINDS: tuple[tuple[str, type[Alert] | type[Invitation]], ...] = (
    ("alert", Alert),
    ("invitation", Invitation),
)


def _family(name: str) -> Family:
    for family_name, documentation, kind, labels in FAMILIES:
        if family_name == name:
            return kind(family_name, documentation, labels=list(labels))
    raise KeyError(name)


def _extra_collectors() -> Iterator[Collector]:
    """The collectors named in METRICS_COLLECTORS (dotted paths to classes with describe() and
    collect()): the hook by which sealing and replication add their lag without this app knowing
    their models. Each must be as careful as this one: describe() without a query."""
    for path in getattr(settings, "METRICS_COLLECTORS", ()):
        factory: Callable[[], Collector] = import_string(path)
        yield factory()


class DatabaseCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        families = [_family(name) for name, *_ in FAMILIES]
        for extra in _extra_collectors():
            families.extend(extra.describe())  # type: ignore[attr-defined]  # required of them (above)
        return families

    def collect(self) -> Iterable[Metric]:
        up = _family("audit_trail_database_up")
        try:
            families = [*self._collect_database(), *self._collect_replication()]
            for extra in _extra_collectors():
                families.extend(extra.collect())
        except DatabaseError as error:
            logger.warning("Metrics: the database did not answer: %s", error)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _collect_database(self) -> list[Metric]:
        now = timezone.now()
        fired = _family("audit_trail_alerts_fired")
        rows = Alert.objects.values_list("organization_id", "region", "rule_name", "severity").annotate(
            n=Count("id")
        )
        for organization_id, region, rule, severity, n in rows.order_by():
            fired.add_metric([str(organization_id), region, rule, severity], n)

        sent, failed, pending = (
            _family("audit_trail_emails_sent"),
            _family("audit_trail_emails_failed"),
            _family("audit_trail_emails_pending"),
        )
        for kind, model in EMAIL_KINDS:
            by_status = dict(
                model.objects.values_list("notification_status").annotate(n=Count("pk")).order_by()
            )
            sent.add_metric([kind], by_status.get(Delivery.SENT, 0))
            failed.add_metric([kind], by_status.get(Delivery.FAILED, 0))
            pending.add_metric(
                [kind], by_status.get(Delivery.PENDING, 0) + by_status.get(Delivery.SENDING, 0)
            )

        # Only the waiting tasks, through django-tasks-db's partial index on them: the table keeps
        # every finished task, and a scrape must not read it whole.
        ready, oldest = (
            _family("audit_trail_tasks_ready"),
            _family("audit_trail_tasks_oldest_ready_age_seconds"),
        )
        queues = getattr(settings, "TASKS", {}).get("default", {}).get("QUEUES", ["default"])
        waiting: dict[str, tuple[int, datetime | None]] = {
            queue: (n, first)
            for queue, n, first in DBTaskResult.objects.ready()
            .values_list("queue_name")
            .annotate(n=Count("id"), first=Min("enqueued_at"))
            .order_by()
        }
        for queue in sorted({*queues, *waiting}):
            n, enqueued = waiting.get(queue, (0, None))
            ready.add_metric([queue], n)
            oldest.add_metric([queue], max(0.0, (now - enqueued).total_seconds()) if enqueued else 0.0)
        workers = _family("audit_trail_workers")
        alive_since = now - timedelta(seconds=settings.TASKS_WORKER_TIMEOUT)
        alive = WorkerHeartbeat.objects.filter(seen_at__gte=alive_since).count()
        workers.add_metric(["alive"], alive)
        workers.add_metric(["silent"], WorkerHeartbeat.objects.count() - alive)

        jobs, failing = _family("audit_trail_export_jobs"), _family("audit_trail_export_jobs_failing")
        by_outcome = dict(ExportJob.objects.values_list("last_status").annotate(n=Count("id")).order_by())
        jobs.add_metric(["success"], by_outcome.get(ExportJob.Status.SUCCESS, 0))
        jobs.add_metric(["failure"], by_outcome.get(ExportJob.Status.FAILURE, 0))
        jobs.add_metric(["never"], by_outcome.get(ExportJob.Status.UNKNOWN, 0))
        failing.add_metric([], ExportJob.objects.filter(failures__gt=0).count())
        days, exported = _family("audit_trail_export_days"), _family("audit_trail_exported_events")
        for region, n, events in (
            ExportDay.objects.values_list("job__region").annotate(n=Count("id"), e=Sum("events")).order_by()
        ):
            days.add_metric([region], n)
            exported.add_metric([region], events or 0)
        return [fired, sent, failed, pending, ready, oldest, workers, jobs, failing, days, exported]

    def _collect_replication(self) -> list[Metric]:
        """On a PostgreSQL primary, its streaming replicas' replay lag. The runtime role sees the
        lag columns only with the `pg_monitor` role (README, production); without it, or on
        SQLite, or with no replica, the family is empty."""
        lag = _family("audit_trail_replica_lag_seconds")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT application_name, EXTRACT(EPOCH FROM replay_lag) FROM pg_stat_replication"
                    " WHERE replay_lag IS NOT NULL OR state = 'streaming'"
                )
                for name, seconds in cursor.fetchall():
                    lag.add_metric([name or "replica"], float(seconds or 0))
        return [lag]
