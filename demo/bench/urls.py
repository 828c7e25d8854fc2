"""The product's URLs plus a Django admin with default settings, for `make bench` only.

The project's own EventAdmin (audit.admin) is tuned for the big table (no counts, ordering by
id, exact searches); the issue's yardstick is the admin as Django ships it. So the bench mounts a
second AdminSite at /bench-admin/ whose Event changelist keeps every default (100 rows a page,
the model's ordering, the filtered and the full count, the delete action) and adds only
`search_fields` on what the Events page's free text searches, so that the same filter sets can be
asked of it. Query-string filters on the model's own fields (`method_name=…`,
`source_ip__in_network=…`) are what any default changelist accepts. Nothing else imports this
module: the bench sets ROOT_URLCONF to it while it times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from audit.models import Event

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # generic in django-stubs only
    ModelAdmin = admin.ModelAdmin

PREFIX = "/bench-admin/"


class DefaultEventAdmin(ModelAdmin):
    search_fields = ["principal_name", "method_name", "resources"]


site = admin.AdminSite(name="bench_admin")
site.register(Event, DefaultEventAdmin)

urlpatterns: list[URLPattern | URLResolver] = [
    path(PREFIX.strip("/") + "/", site.urls),
    # The product's URLs, mounted by name: they reach every app (metrics included), which demo
    # does not import.
    path("", include("config.urls")),
]
