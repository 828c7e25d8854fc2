from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerting"
    default_auto_field = "django.db.models.BigAutoField"
