from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts.receivers import enqueue_evaluation
        from audit.signals import events_recorded

        events_recorded.connect(enqueue_evaluation, dispatch_uid="alerts_enqueue_evaluation")
