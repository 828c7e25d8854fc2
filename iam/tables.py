from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.utils.html import format_html

from core.time import with_offset
from iam.filters import RESOURCE_TYPE_LABELS
from iam.models import APIKey, Application, Group, Invitation, Policy

ATTRS = {"class": "data"}


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


class IamLogTable(tables.Table):  # type: ignore[misc]  # django_tables2 is untyped
    """Rows are `iam.selectors.LogRow`s, already in the order the page asked for (keyset paging):
    `order_by` only marks the Date header, whose link flips `sort` and starts again from the top."""

    created_at = TimeColumn(verbose_name="Date", orderable=True)
    action = tables.TemplateColumn(template_name="iam/_columns/log_action.html", verbose_name="Action")
    resource_type = tables.Column(verbose_name="Category")
    resource_id = tables.TemplateColumn(
        "{% if record.resource_name %}{{ record.resource_name }} {% endif %}<code>{{ record.resource_id }}</code>",
        verbose_name="Resource",
        # A long name wraps in the cell (iam.css); the full name also shows on hover.
        attrs={"td": {"title": lambda record: record.resource_name or None}},
    )
    principal = tables.TemplateColumn(
        template_name="iam/_columns/log_principal.html", verbose_name="Principal"
    )
    more = tables.TemplateColumn(
        template_name="iam/_columns/log_more.html", verbose_name="", attrs={"td": {"class": "cell-icon"}}
    )

    class Meta:
        attrs = ATTRS
        orderable = False
        order_by_field = "sort"
        empty_text = "No IAM log entries match these filters."

    def render_resource_type(self, value: str) -> str:
        return RESOURCE_TYPE_LABELS.get(value, value)
