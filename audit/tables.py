"""The Events table. Rows are a keyset page (a list), so the table never sorts or paginates itself:
the Date header's sort link sets `order`, and the pager below the table moves by cursor.

Cells are `render_<column>` methods building their HTML with `format_html` (which escapes every
value), not templates, and `rows_html` renders the body in one pass (`audit/_events_table.html`):
per cell, django-tables2 resolves the accessor, inspects the render method's signature and rebuilds
the column's attributes, which on fifty rows of seven cells cost more than all the page's SQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from audit.models import Event, PrincipalType
from audit.selectors import PrincipalLabel
from audit.templatetags.audit_extras import iso_utc, short_id, status_badge, with_offset

# Reversed once per table, then filled in per row.
_PLACEHOLDER = uuid.UUID(int=0)
_MUTED_DASH = mark_safe('<span class="muted">—</span>')  # noqa: S308 (a constant)


class EventTable(tables.Table):
    # empty_values=(): every cell renders, even for a missing IP or no resources (its own dash).
    recorded_at = tables.Column(
        verbose_name="Date",
        orderable=True,
        empty_values=(),
        attrs={"th": {"class": "col-date"}, "td": {"class": "col-date nowrap"}},
    )
    principal = tables.Column(
        accessor="principal_label",
        verbose_name="Principal",
        empty_values=(),
        attrs={"td": {"class": "col-principal"}},
    )
    product_name = tables.Column(verbose_name="Product", empty_values=(), attrs={"td": {"class": "nowrap"}})
    method_name = tables.Column(verbose_name="Method", empty_values=(), attrs={"td": {"class": "nowrap"}})
    resources = tables.Column(
        verbose_name="Resources", empty_values=(), attrs={"td": {"class": "col-resources"}}
    )
    source_ip = tables.Column(verbose_name="IP", empty_values=(), attrs={"td": {"class": "col-ip mono"}})
    status_code = tables.Column(verbose_name="Status", empty_values=(), attrs={"td": {"class": "nowrap"}})

    class Meta:
        orderable = False
        order_by_field = "order"
        attrs = {"class": "data events-table", "id": "events-table"}
        show_footer = False
        template_name = "audit/_events_table.html"

    def __init__(self, data: Any, *, order: str, list_query: str = "", **kwargs: Any) -> None:
        # The rows already come in `order`; passing it only marks the Date header as sorted.
        super().__init__(data, order_by=(order,), **kwargs)
        # Each row links to its drawer with the list's own query, so closing it lands on this page.
        self.list_query = list_query
        self._event_url = reverse("audit:event", args=[_PLACEHOLDER])

    def rows_html(self) -> SafeString:
        """The `<tr>`s of the body: each column's `td` attributes worked out once, not per cell."""
        cells = [
            (format_html("<td {}>", column.attrs["td"].as_html()), getattr(self, f"render_{column.name}"))
            for column in self.columns
        ]
        rows = []
        for index, record in enumerate(self.data):
            stripe = "odd" if index % 2 else "even"
            rows.append(
                format_html(
                    '<tr class="{}" data-event-id="{}">{}</tr>\n',
                    f"row-denied {stripe}" if record.is_denied else stripe,
                    record.pk,
                    mark_safe("".join(f"{td}{render(record)}</td>" for td, render in cells)),  # noqa: S308
                )
            )
        return mark_safe("".join(rows))  # noqa: S308 (format_html escaped every value)

    def render_recorded_at(self, record: Event) -> SafeString:
        url = self._event_url.replace(str(_PLACEHOLDER), str(record.pk)) + self.list_query
        at: datetime = record.recorded_at
        shown = with_offset(at)
        return format_html(
            '<a class="event-link" href="{url}" hx-get="{url}" hx-target="#drawer" hx-swap="outerHTML" '
            'hx-push-url="true" aria-label="Open event {method} at {shown}">'
            '<time datetime="{iso}">{shown}</time></a>',
            url=url,
            method=record.method_name,
            shown=shown,
            iso=iso_utc(at),
        )

    def render_principal(self, record: Event) -> SafeString:
        value: PrincipalLabel = record.principal_label  # type: ignore[attr-defined]
        if value.kind == PrincipalType.SYSTEM:
            return mark_safe(  # noqa: S308 (a constant)
                '<span class="principal principal-system" title="An action of the Scaleway platform">'
                "Scaleway</span>"
            )
        if value.is_unknown:
            return format_html(
                '<span class="principal principal-unknown">Unknown</span> '
                '<code class="principal-id" title="Principal ID {}">{}</code>',
                value.principal_id,
                short_id(value.principal_id),
            )
        if value.principal_id:
            return format_html(
                '<span class="principal" title="{} {}">{}</span>{}',
                value.kind,
                value.principal_id,
                value.name,
                mark_safe(' <span class="kind-tag">app</span>')  # noqa: S308 (a constant)
                if value.kind == PrincipalType.APPLICATION
                else "",
            )
        return format_html('<span class="principal principal-anonymous">{}</span>', value.name)

    def render_product_name(self, record: Event) -> SafeString:
        return format_html("{}", record.product_name)

    def render_method_name(self, record: Event) -> SafeString:
        return format_html(
            '<span class="method" title="{}">{}</span>', record.service_name, record.method_name
        )

    def render_resources(self, record: Event) -> SafeString:
        value = record.resources
        first = value[0] if value else None
        if not first:
            return _MUTED_DASH
        # As a template would: a missing key (or a malformed entry) shows as nothing.
        kind, rid, name = (
            first.get(key, "") if isinstance(first, dict) else "" for key in ("type", "id", "name")
        )
        return format_html(
            '<span class="resource" title="{} {}"><span class="resource-type">{}</span> {}</span>{}',
            kind,
            rid,
            kind,
            name or format_html("<code>{}</code>", short_id(rid, 12)),
            format_html(' <span class="more">+{}</span>', len(value) - 1) if len(value) > 1 else "",
        )

    def render_source_ip(self, record: Event) -> SafeString:
        value = record.source_ip
        if not value:
            return _MUTED_DASH
        if ":" in value:
            return format_html('<span class="ipv6">{}</span>', value)
        return format_html("{}", value)

    def render_status_code(self, record: Event) -> SafeString:
        return status_badge(record)
