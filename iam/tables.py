from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django_tables2.utils import AttributeDict

from core.html import escaped as _e
from core.time import with_offset
from iam.filters import RESOURCE_TYPE_LABELS
from iam.models import APIKey, Application, Group, Invitation, Policy

ATTRS = {"class": "data"}
_PLACEHOLDER_ID = "00000000-0000-4000-8000-00000000feed"


class TimeColumn(tables.Column):  # type: ignore[misc]  # django_tables2 is untyped
    """A time in the viewer's zone, always with its UTC offset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("attrs", {"td": {"class": "nowrap"}})
        super().__init__(*args, **kwargs)

    def render(self, value: Any) -> str:
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), with_offset(value))


class MemberTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    email = tables.TemplateColumn(template_name="iam/_columns/member.html", verbose_name="User")
    user_id = tables.TemplateColumn("<code>{{ record.user.pk }}</code>", verbose_name="ID")
    joined_at = TimeColumn(verbose_name="Member since")
    actions = tables.TemplateColumn(template_name="iam/_columns/member_actions.html", verbose_name="")

    class Meta:
        attrs = ATTRS
        orderable = False
        empty_text = "No members."


class InvitationTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    email = tables.Column(verbose_name="Invited e-mail")
    invited_by = tables.Column(accessor="invited_by__email", verbose_name="Invited by", default="—")
    created_at = TimeColumn(verbose_name="Sent")
    expires_at = TimeColumn(verbose_name="Expires")
    actions = tables.TemplateColumn(template_name="iam/_columns/invitation_actions.html", verbose_name="")

    class Meta:
        model = Invitation
        fields = ["email", "invited_by", "created_at", "expires_at"]
        attrs = ATTRS
        orderable = False
        empty_text = "No pending invitations."


class ApplicationTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    name = tables.Column()
    description = tables.Column(default="—")
    id = tables.TemplateColumn("<code>{{ record.pk }}</code>", verbose_name="ID")
    nb_api_keys = tables.Column(verbose_name="API keys")
    created_at = TimeColumn(verbose_name="Created")
    actions = tables.TemplateColumn(template_name="iam/_columns/application_actions.html", verbose_name="")

    class Meta:
        model = Application
        fields = ["name", "description", "id", "nb_api_keys", "created_at"]
        attrs = ATTRS
        orderable = False
        empty_text = "No applications yet."


class GroupTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    name = tables.TemplateColumn(
        "<a href=\"{% url 'iam:group' record.pk %}\">{{ record.name }}</a>", verbose_name="Name"
    )
    description = tables.Column(default="—")
    nb_users = tables.Column(verbose_name="Users")
    nb_applications = tables.Column(verbose_name="Applications")
    created_at = TimeColumn(verbose_name="Created")
    actions = tables.TemplateColumn(template_name="iam/_columns/group_actions.html", verbose_name="")

    class Meta:
        model = Group
        fields = ["name", "description", "nb_users", "nb_applications", "created_at"]
        attrs = ATTRS
        orderable = False
        empty_text = "No groups yet."


class PolicyTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    name = tables.TemplateColumn(
        "<a href=\"{% url 'iam:policy' record.pk %}\">{{ record.name }}</a>", verbose_name="Name"
    )
    principal = tables.TemplateColumn(template_name="iam/_columns/policy_principal.html", orderable=False)
    rules = tables.TemplateColumn(template_name="iam/_columns/policy_rules.html", verbose_name="Rules")
    updated_at = TimeColumn(verbose_name="Updated")
    actions = tables.TemplateColumn(template_name="iam/_columns/policy_actions.html", verbose_name="")

    class Meta:
        model = Policy
        fields = ["name", "principal", "rules", "updated_at"]
        attrs = ATTRS
        orderable = False
        empty_text = "No policies yet."


class APIKeyTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    access_key = tables.TemplateColumn(
        "<code>{{ record.access_key }}</code>",
        verbose_name="Access key",
        attrs={"td": {"class": "key-column"}},
    )
    # Free text up to 200 characters, with or without spaces: clipped, the full value on hover.
    description = tables.TemplateColumn(
        '{% if record.description %}<span class="clip" title="{{ record.description }}">{{ record.description }}</span>{% else %}—{% endif %}'
    )
    bearer = tables.TemplateColumn(template_name="iam/_columns/api_key_bearer.html", verbose_name="Bearer")
    default_project = tables.TemplateColumn(
        '{% if record.default_project %}<span class="clip" title="{{ record.default_project }}">{{ record.default_project }}</span>{% else %}—{% endif %}',
        verbose_name="Default project",
    )
    created_at = TimeColumn(verbose_name="Created")
    expires_at = TimeColumn(verbose_name="Expires", default="Never")
    actions = tables.TemplateColumn(template_name="iam/_columns/api_key_actions.html", verbose_name="")

    class Meta:
        model = APIKey
        fields = ["access_key", "description", "bearer", "default_project", "created_at", "expires_at"]
        attrs = ATTRS
        orderable = False
        empty_text = "No API keys yet."


_INFO_ICON = mark_safe(
    '<svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false"><circle cx="10" '
    'cy="10" r="8.25" fill="none" stroke="currentColor" stroke-width="1.5"/><rect x="9.1" y="8.6" '
    'width="1.8" height="5.6" rx=".9" fill="currentColor"/><circle cx="10" cy="6.2" r="1.1" '
    'fill="currentColor"/></svg>'
)  # a constant


class IamLogTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    """Rows are `iam.selectors.LogRow`s, already in the order the page asked for (keyset paging):
    `order_by` only marks the Date header, whose link flips `sort` and starts again from the top."""

    created_at = TimeColumn(verbose_name="Date", orderable=True)
    # Cells built here, not from a template each (`_columns/log_*.html` made 200 template renders
    # a page, most of its time): the same markup. empty_values=(): every cell is rendered.
    action = tables.Column(verbose_name="Action", empty_values=())
    resource_type = tables.Column(verbose_name="Category")
    resource_id = tables.Column(
        verbose_name="Resource",
        empty_values=(),
        # A long name wraps in the cell (iam.css); the full name also shows on hover.
        attrs={"td": {"title": lambda record: record.resource_name or None}},
    )
    principal = tables.Column(verbose_name="Principal", empty_values=())
    more = tables.Column(verbose_name="", empty_values=(), attrs={"td": {"class": "cell-icon"}})

    class Meta:
        attrs = ATTRS
        orderable = False
        order_by_field = "sort"
        empty_text = "No IAM log entries match these filters."
        # The console's table, with its body's rows built by `tbody_html` (the same markup).
        template_name = "iam/_log_table.html"

    def tbody_html(self) -> SafeString:
        """The table's <tbody> as the console's table template renders it, built here in one
        pass: django-tables2 looks up, inspects and renders each cell on its own (half the page's
        Python time for 50 rows). Empty: "" (the template's own body then says so)."""
        records = list(self.data)
        if not records:
            return mark_safe("")
        time_column = self.base_columns["created_at"]
        # Each row's link: the URL of a placeholder id, the row's id put in (one reverse a page).
        link = reverse("iam:log", args=[_PLACEHOLDER_ID])
        rows = []
        for i, record in enumerate(records):
            title = record.resource_name
            cells = (
                f'<td class="nowrap">{time_column.render(record.created_at)}</td>'
                f"<td >{self.render_action(record)}</td>"
                f"<td >{_e(self.render_resource_type(record.resource_type))}</td>"
                + (f'<td title="{_e(title)}">' if title else "<td >")
                + f"{self.render_resource_id(record)}</td>"
                f"<td >{self.render_principal(record)}</td>"
                f'<td class="cell-icon">{self._more(record, link.replace(_PLACEHOLDER_ID, str(record.id)))}</td>'
            )
            parity = "odd" if i % 2 else "even"
            rows.append(
                f'\n      \n      <tr class="{parity}">\n        {cells}\n      </tr>\n      \n      '
            )
        attrs = AttributeDict(self.attrs.get("tbody", {})).as_html()
        return mark_safe(f"\n    <tbody {attrs}>\n      {''.join(rows)}\n    </tbody>\n    ")  # escaped above

    def render_resource_type(self, value: str) -> str:
        return RESOURCE_TYPE_LABELS.get(value, value)

    def render_action(self, record: Any) -> SafeString:
        badge = {"created": "badge-success", "deleted": "badge-danger"}.get(record.action, "badge-neutral")
        return mark_safe(f'<span class="badge {badge}">{_e(capfirst(record.action))}</span>\n')  # escaped

    def render_resource_id(self, record: Any) -> SafeString:
        name = f"{_e(record.resource_name)} " if record.resource_name else ""
        return mark_safe(f"{name}<code>{_e(record.resource_id)}</code>")  # escaped

    def render_principal(self, record: Any) -> SafeString:
        if record.is_platform:
            html = '<span class="principal principal-scaleway">Scaleway</span>'
        elif record.is_unknown:
            html = '<span class="principal principal-unknown">Unknown</span>'
            if record.bearer_id:
                html += f' <code class="muted" title="Principal ID">{_e(record.bearer_id)}</code>'
        else:
            html = (
                f'<span class="principal">{_e(record.principal)}</span> '
                f'<code class="muted" title="Principal ID">{_e(record.bearer_id)}</code>'
            )
        return mark_safe(html + "\n")  # constants and escaped values

    def render_more(self, record: Any) -> SafeString:
        return self._more(record, reverse("iam:log", args=[record.id]))

    def _more(self, record: Any, url: str) -> SafeString:
        at = timezone.localtime(record.created_at).strftime("%Y-%m-%d %H:%M:%S")
        url = _e(url)
        return mark_safe(  # escaped values and a constant icon
            f'<a href="{url}" class="icon-button" title="More info"\n   hx-get="{url}" hx-target="#log-dialog-body" '
            f'hx-swap="innerHTML" hx-push-url="false">{_INFO_ICON}<span class="visually-hidden">More info on the '
            f"{_e(record.action)} {_e(record.resource_type)} entry of {_e(at)}</span></a>\n"
        )
