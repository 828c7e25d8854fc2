from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from audit.models import Event
from iam.fields import BoundedDateTimeInput, BoundedTextInput, BoundedUUIDFilter, UTCDateTimeFilter
from iam.logs import IAM_LOG_METHODS, LOG_ACTIONS, LOG_RESOURCE_TYPES

DATETIME_LOCAL = BoundedDateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
RESOURCE_TYPE_LABELS = {
    "api_key": "API key",
    "user": "User",
    "application": "Application",
    "group": "Group",
    "policy": "Policy",
}


class IamLogFilterForm(forms.Form):
    """The filters' form: a range must run forwards (a reversed one matched nothing, silently)."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        after, before = data.get("created_after"), data.get("created_before")
        if after and before and after > before:
            self.add_error("created_before", "The end of the range must be after its start.")
        return data


class IamLogFilter(django_filters.FilterSet):  # type: ignore[misc]  # django_filters is untyped
    """IAM ▸ Logs filters: date range, action, category (resource type) and principal ID.

    Applied on top of `iam.logs.iam_log_events(...)`; the sort and the page live outside.
    """

    created_after = UTCDateTimeFilter(
        field_name="recorded_at", lookup_expr="gte", label="From", widget=DATETIME_LOCAL
    )
    created_before = UTCDateTimeFilter(
        field_name="recorded_at", lookup_expr="lte", label="To", widget=DATETIME_LOCAL
    )
    action = django_filters.ChoiceFilter(
        label="Action",
        choices=[(a, a.capitalize()) for a in LOG_ACTIONS],
        method="filter_action",
        empty_label="All actions",
    )
    resource_type = django_filters.ChoiceFilter(
        label="Category",
        choices=[(r, RESOURCE_TYPE_LABELS[r]) for r in LOG_RESOURCE_TYPES],
        method="filter_resource_type",
        empty_label="All categories",
    )
    bearer_id = BoundedUUIDFilter(
        field_name="principal_id",
        label="Principal ID",
        widget=BoundedTextInput(attrs={"placeholder": "User or application ID", "spellcheck": "false"}),
    )

    class Meta:
        model = Event
        form = IamLogFilterForm
        fields = ["created_after", "created_before", "action", "resource_type", "bearer_id"]

    def filter_action(self, queryset: QuerySet[Event], name: str, value: Any) -> QuerySet[Event]:
        return queryset.filter(method_name__in=[m for m, (a, _) in IAM_LOG_METHODS.items() if a == value])

    def filter_resource_type(self, queryset: QuerySet[Event], name: str, value: Any) -> QuerySet[Event]:
        return queryset.filter(method_name__in=[m for m, (_, r) in IAM_LOG_METHODS.items() if r == value])
