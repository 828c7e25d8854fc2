"""Events in the admin: viewable and searchable, never added, changed or deleted.

The events table is big and partitioned, so the changelist avoids what would scan it: it orders
by `-id` (UUIDv7 sorts by time and walks each partition's primary key), never counts the whole
table, searches by exact organization or event id only, and filters on a static list of regions
(a plain `list_filter` would run SELECT DISTINCT over every partition).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from audit.models import AuthenticationEvent, Event
from core.regions import REGIONS


class RegionFilter(admin.SimpleListFilter):
    title = "region"
    parameter_name = "region"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(region, region) for region in REGIONS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(region=self.value()) if self.value() else queryset


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("200", "200 Successful"), ("403", "403 Forbidden")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        status = self.value()
        return queryset.filter(status_code=int(status)) if status in ("200", "403") else queryset


if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # generic in django-stubs only: Django's class takes no subscript at run time
    ModelAdmin = admin.ModelAdmin


class ReadOnlyAdmin(ModelAdmin):
    """The trail is append-only everywhere, the admin included."""

    show_full_result_count = False
    list_per_page = 50
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _utc(value: datetime) -> str:
    # An audit log needs the second and the zone, not Django's "11:26 a.m.".
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = [
        "when",
        "region",
        "principal_name",
        "product_name",
        "method_name",
        "status_code",
        "organization_id",
    ]
    list_display_links = ["when"]
    list_filter = [RegionFilter, StatusFilter]
    # Both index-served; Django skips terms that are not UUIDs for these fields.
    search_fields = ["id__exact", "organization_id__exact"]
    search_help_text = "An exact event ID or organization ID."
    ordering = ["-id"]
    fieldsets = [
        (
            None,
            {"fields": ["id", "when", "organization_id", "project_id", "locality", "region", "status_code"]},
        ),
        (
            "Principal",
            {
                "fields": [
                    "principal_type",
                    "principal_id",
                    "principal_name",
                    "source_ip",
                    "user_agent",
                    "request_id",
                ]
            },
        ),
        (
            "Call",
            {
                "fields": [
                    "product_name",
                    "service_name",
                    "method_name",
                    "resources_json",
                    "request_body_json",
                ]
            },
        ),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Event | None:
        # An id is unique within its organization only (ingested events keep their producer's id),
        # so two organizations' events may share one: show the first rather than fail.
        try:
            return super().get_object(request, object_id, from_field)
        except Event.MultipleObjectsReturned:
            return self.get_queryset(request).filter(pk=object_id).first()

    @admin.display(description="Recorded at", ordering="-id")
    def when(self, event: Event) -> str:
        return _utc(event.recorded_at)

    @admin.display(description="Resources")
    def resources_json(self, event: Event) -> str:
        return _pretty(event.resources)

    @admin.display(description="Request body")
    def request_body_json(self, event: Event) -> str:
        return _pretty(event.request_body)


@admin.register(AuthenticationEvent)
class AuthenticationEventAdmin(ReadOnlyAdmin):
    list_display = [
        "recorded_at",
        "email",
        "result",
        "failure_reason",
        "method",
        "source_ip",
        "organization_id",
    ]
    list_filter = ["result", "method"]
    search_fields = ["id__exact", "organization_id__exact", "user_id__exact", "=email"]
    search_help_text = "An exact event, organization or user ID, or an e-mail address."
    ordering = ["-id"]
    readonly_fields = [
        "id",
        "when",
        "organization_id",
        "user_id",
        "email",
        "source_ip",
        "user_agent",
        "result",
        "failure_reason",
        "method",
        "origin",
        "mfa_type",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description="Recorded at", ordering="-id")
    def when(self, event: AuthenticationEvent) -> str:
        return _utc(event.recorded_at)
