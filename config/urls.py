from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("iam.urls")),
    path("audit-trail/", include("audit.urls")),
    # Alerting Management (/audit-trail/alerting/) and Notification contacts (/contacts/).
    path("", include("alerts.urls")),
]
