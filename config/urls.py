from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from core.health import health
from metrics.views import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    # For load balancers and uptime checks: 200 while this process and its database answer.
    path("health/", health, name="health"),
    # Prometheus' scrape target; closed unless METRICS_TOKEN or METRICS_ALLOWED_IPS is set.
    path("metrics", metrics, name="metrics"),
    path("", include("iam.urls")),
    path("audit-trail/", include("audit.urls")),
    # Alerting Management (/audit-trail/alerting/) and Notification contacts (/contacts/).
    path("", include("alerts.urls")),
    # The Exports tab (/audit-trail/exports/): export jobs and "Download this view".
    path("", include("exports.urls")),
    # The Scaleway-compatible API (and our /x/ extensions), at the paths the SDKs use.
    path("", include("api.urls")),
]

# Unknown API paths answer JSON (the SDK parses error bodies); console paths keep the HTML page.
handler404 = "api.http.not_found_handler"
# A database fault raised in a middleware (the session save, say) answers 503, not 500 or 400.
handler500 = "api.faults.server_error"
handler400 = "api.faults.bad_request"
