from __future__ import annotations

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from audit.signals import events_recorded
        from metrics.collectors import DatabaseCollector
        from metrics.instruments import count_recorded

        events_recorded.connect(count_recorded, dispatch_uid="metrics_count_recorded")
        # The collector defines describe(): registering it runs no query (without it the registry
        # would call collect() here, at start-up, before the database may even answer).
        REGISTRY.register(DatabaseCollector())
