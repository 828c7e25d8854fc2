"""The Events table. Rows are a keyset page (a list), so the table never sorts or paginates itself:
the Date header's sort link sets `order`, and the pager below the table moves by cursor."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables

from audit.models import Event


def _row_class(record: Event) -> str:
    return "row-denied" if record.is_denied else ""


class EventTable(tables.Table):
    recorded_at = tables.TemplateColumn(
        template_name="audit/_columns/date.html",
        verbose_name="Date",
        orderable=True,
        attrs={"th": {"class": "col-date"}, "td": {"class": "col-date nowrap"}},
    )
    principal = tables.TemplateColumn(
        template_name="audit/_columns/principal.html",
        accessor="principal_label",
        verbose_name="Principal",
        attrs={"td": {"class": "col-principal"}},
    )
    product_name = tables.Column(verbose_name="Product", attrs={"td": {"class": "nowrap"}})
    method_name = tables.TemplateColumn(
        template_name="audit/_columns/method.html", verbose_name="Method", attrs={"td": {"class": "nowrap"}}
    )
    resources = tables.TemplateColumn(
        template_name="audit/_columns/resources.html",
        verbose_name="Resources",
        attrs={"td": {"class": "col-resources"}},
    )
    source_ip = tables.TemplateColumn(
        template_name="audit/_columns/ip.html", verbose_name="IP", attrs={"td": {"class": "col-ip mono"}}
    )
    status_code = tables.TemplateColumn(
        template_name="audit/_columns/status.html", verbose_name="Status", attrs={"td": {"class": "nowrap"}}
    )

    class Meta:
        orderable = False
        order_by_field = "order"
        attrs = {"class": "data events-table", "id": "events-table"}
        row_attrs = {"class": _row_class, "data-event-id": lambda record: str(record.pk)}
        show_footer = False

    def __init__(self, data: Any, *, order: str, **kwargs: Any) -> None:
        # The rows already come in `order`; passing it only marks the Date header as sorted.
        super().__init__(data, order_by=(order,), **kwargs)
