"""IAM ▸ Logs: the IAM events of the organization, a keyset page at a time."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from core.paging import Cursor
from iam import selectors
from iam.filters import IamLogFilter
from iam.http import ConsoleRequest
from iam.logs import iam_log_events
from iam.permissions import iam_method_required, request_may
from iam.tables import IamLogTable
from iam.views._common import IAM_FORBIDDEN, _organization, _page

LOG_PAGE_SIZE = 50


def _cursor(request: HttpRequest) -> Cursor | None:
    token = request.GET.get("cursor") or ""
    if not token:
        return None
    try:
        return Cursor.decode(token)
    except ValueError:
        return None  # a stale or forged cursor: start from the first page


@require_safe
@login_required
@iam_method_required("ListLogs", template_name=IAM_FORBIDDEN)
@vary_on_headers("HX-Request", "HX-Target")
def log_list(request: ConsoleRequest) -> HttpResponse:
    """IAM ▸ Logs: one keyset page of entries, newest first unless `sort=created_at`."""
    organization = _organization(request)
    ascending = request.GET.get("sort") == "created_at"
    log_filter = IamLogFilter(request.GET or None, queryset=iam_log_events(organization_id=organization.pk))
    # An invalid filter lists nothing: its errors, prominent, instead of a list it does not describe.
    invalid = log_filter.is_bound and not log_filter.is_valid()
    rows, page = selectors.iam_log_page(
        organization=organization,
        events=log_filter.queryset.none() if invalid else log_filter.qs,
        may_see_principals=request_may(request, "iam:read"),
        ascending=ascending,
        cursor=_cursor(request),
        page_size=LOG_PAGE_SIZE,
    )
    # The rows come in that order already; the table marks the Date header and links the other way.
    table = IamLogTable(rows, order_by=("created_at" if ascending else "-created_at",))
    params = request.GET.copy()
    params.pop("cursor", None)

    def link(**changes: str | None) -> str:
        query = params.copy()
        for key, value in changes.items():
            query.pop(key, None)
            if value:
                query[key] = value
        return f"?{query.urlencode()}" if query else "?"

    context = {
        "tab": "logs",
        "filter": log_filter,
        "invalid": invalid,
        "table": table,
        "rows": rows,
        "ascending": ascending,
        "newer_url": link(cursor=page.previous_cursor.encode()) if page.previous_cursor else None,
        "older_url": link(cursor=page.next_cursor.encode()) if page.next_cursor else None,
        "may_see_principals": request_may(request, "iam:read"),
    }
    return _page(request, "iam/log_list.html", context)


@require_safe
@login_required
@iam_method_required("GetLog", template_name=IAM_FORBIDDEN)
@vary_on_headers("HX-Request", "HX-Target")
def log_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    """One entry's "More info": user agent and IP. The popup's body for htmx, a page otherwise."""
    organization = _organization(request)
    event = selectors.iam_log_get(
        organization=organization, log_id=pk, events=iam_log_events(organization_id=organization.pk)
    )
    if event is None:
        raise Http404("No such log entry.")
    (row,) = selectors.log_rows(
        organization=organization, events=[event], may_see_principals=request_may(request, "iam:read")
    )
    template = "iam/log_detail.html"
    if request.htmx.target == "log-dialog-body":
        template += "#detail"
    return render(request, template, {"tab": "logs", "nav": "iam", "row": row})
