from __future__ import annotations

import django_tables2 as tables

from alerts.models import Alert


class AlertTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    fired_at = tables.TemplateColumn(
        template_name="alerts/_columns/fired_at.html", verbose_name="Fired", orderable=False
    )
    rule_name = tables.TemplateColumn(
        template_name="alerts/_columns/rule.html", verbose_name="Alert", orderable=False
    )
    severity = tables.TemplateColumn(
        template_name="alerts/_columns/severity.html", verbose_name="Severity", orderable=False
    )
    matched_count = tables.TemplateColumn(
        template_name="alerts/_columns/events.html", verbose_name="Events", orderable=False
    )
    notification_status = tables.TemplateColumn(
        template_name="alerts/_columns/notification.html", verbose_name="E-mail", orderable=False
    )

    class Meta:
        model = Alert
        fields = ("fired_at", "rule_name", "severity", "matched_count", "notification_status")
        attrs = {"class": "data", "id": "fired-alerts-table"}
        empty_text = "No alert has fired in this region yet."
