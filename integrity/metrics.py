"""Sealing's lag on `/metrics`, plugged in through the metrics app's METRICS_COLLECTORS hook (on by
default: config/settings.py). `describe()` runs no query; `collect()` runs two bounded ones:

- the seal tasks waiting for a worker (their count, the oldest one's age), through django-tasks-db's
  partial index on waiting tasks: every recorded batch enqueues one, so the oldest waiting task's
  age is how long the oldest event announced and not yet sealed has waited;
- each organization's last full sweep (one `TreeState` row per organization): the sweep seals what
  a lost task left, so its age staying under INTEGRITY_SEAL_INTERVAL (plus a worker's loop) is the
  promise that every event is sealed within that interval.

Neither reads the events or the leaves (an anti-join between them, the exact count of unsealed
events, costs a scan of an organization's events: `verify_trail` names them instead).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Min
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client.core import GaugeMetricFamily, Metric

from integrity.models import TreeState

SEAL_TASK = "integrity.tasks.seal_task"


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "audit_trail_sealing_tasks_waiting",
            "Sealing tasks (a recorded batch's events, or a sweep) waiting for a worker.",
        ),
        GaugeMetricFamily(
            "audit_trail_sealing_oldest_waiting_seconds",
            "Age of the oldest sealing task waiting for a worker: how long announced events have "
            "waited to be sealed (0: none waiting).",
        ),
        GaugeMetricFamily(
            "audit_trail_sealing_sweep_age_seconds",
            "Seconds since the organization's last full sealing sweep (it seals within "
            "INTEGRITY_SEAL_INTERVAL whatever a lost task left).",
            labels=["organization"],
        ),
    )


class SealingCollector:
    def describe(self) -> Iterable[Metric]:
        return list(_families())

    def collect(self) -> Iterable[Metric]:
        waiting, oldest, sweep_age = _families()
        now = timezone.now()
        tasks = (
            DBTaskResult.objects.ready()
            .filter(task_path=SEAL_TASK)
            .aggregate(n=Count("id"), first=Min("enqueued_at"))
        )
        waiting.add_metric([], tasks["n"])
        first = tasks["first"]
        oldest.add_metric([], max(0.0, (now - first).total_seconds()) if first else 0.0)
        for organization_id, swept_at in TreeState.objects.exclude(swept_at=None).values_list(
            "organization_id", "swept_at"
        ):
            if swept_at is not None:
                sweep_age.add_metric([str(organization_id)], max(0.0, (now - swept_at).total_seconds()))
        return [waiting, oldest, sweep_age]
