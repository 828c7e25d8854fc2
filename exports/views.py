"""The Exports tab: export jobs (list, create, delete) and "Download this view"."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from audit.forms import EventFilterForm
from audit.selectors import event_queryset, project_list
from audit.services import Actor, record
from core.ids import uuid7
from core.regions import REGION_CHOICES, region_or_default
from exports import downloads, selectors, services
from exports.forms import ExportJobForm
from exports.storage import destination
from iam.http import ConsoleRequest
from iam.permissions import forbidden, permission_required, request_may
from integrity.export_manifests import iso

READ, WRITE = "audit_trail:export_read", "audit_trail:export_write"


def _region(request: ConsoleRequest) -> str:
    return region_or_default(request.GET.get("region"))


def _jobs_url(region: str) -> str:
    return f"{reverse('exports:jobs')}?region={region}"


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required(READ, method="ListExportJobs")
def jobs(request: ConsoleRequest) -> HttpResponse:
    """GET: the region's export jobs and the download of the Events view the user came from.
    POST: create a job."""
    organization = request.organization
    assert organization is not None
    region = _region(request)
    can_write = request_may(request, WRITE)
    form = ExportJobForm(region=region)
    if request.method == "POST":
        if not can_write:
            return forbidden(request, WRITE, method="CreateExportJob")
        form = ExportJobForm(request.POST, region=region)
        if form.is_valid():
            job = services.export_job_create(
                actor=Actor.from_request(request),
                organization=organization,
                region=region,
                name=form.cleaned_data["name"],
                bucket=form.cleaned_data["bucket"],
                s3_region=form.cleaned_data["s3_region"],
                prefix=form.cleaned_data["key_prefix"],
            )
            messages.success(
                request,
                f"Export job {job.name} created: its first run exports the last {settings.EXPORT_DAYS} days.",
            )
            return HttpResponseRedirect(_jobs_url(region))
    rows = [
        {"job": job, "destination": destination(bucket=job.bucket, region=job.s3_region)}
        for job in selectors.export_job_list(organization=organization, region=region)
    ]
    query = request.GET.copy()
    query["region"] = region
    can_download = request_may(request, "audit_trail:read")
    downloads_made = (
        selectors.download_manifest_list(organization=organization, user_id=request.user.pk)
        if can_download
        else []
    )
    return render(
        request,
        "exports/jobs.html",
        {
            "nav": "audit",
            "tab": "exports",
            "region": region,
            "region_choices": REGION_CHOICES,
            "rows": rows,
            "form": form,
            "can_write": can_write,
            "can_download": can_download,
            "downloads": downloads_made,
            "view_query": query.urlencode(),
            "filtered": any(k for k, v in request.GET.items() if k not in ("region",) and v),
            "max_rows": settings.EXPORT_DOWNLOAD_MAX_ROWS,
        },
    )


@require_POST
@login_required
@permission_required(WRITE, method="DeleteExportJob")
def job_delete(request: ConsoleRequest, job_id: uuid.UUID) -> HttpResponse:
    organization = request.organization
    assert organization is not None
    job = selectors.export_job_get(organization=organization, job_id=job_id)
    if job is None:
        raise Http404("No such export job.")
    services.export_job_delete(actor=Actor.from_request(request), job=job)
    messages.success(request, f"Export job {job.name} deleted. The files it wrote stay in the bucket.")
    return HttpResponseRedirect(_jobs_url(job.region))


@require_safe
@login_required
@permission_required("audit_trail:read", method="DownloadEvents")
def download(request: ConsoleRequest) -> HttpResponse:
    """The Events list as filtered (the Events page's query string), as CSV or NDJSON, streamed."""
    organization = request.organization
    assert organization is not None
    fmt = request.GET.get("format", "csv")
    form = EventFilterForm(request.GET, projects=project_list(organization=organization), now=timezone.now())
    if fmt not in downloads.FORMATS or not form.is_valid():
        errors: list[str] = [] if fmt in downloads.FORMATS else ["Choose CSV or NDJSON."]
        errors += [
            f"{form.fields[name].label}: {' '.join(map(str, e))}"
            if name in form.fields
            else " ".join(map(str, e))
            for name, e in form.errors.items()
        ]
        return render(
            request,
            "exports/download_error.html",
            {"nav": "audit", "errors": errors, "region": _region(request)},
            status=400,
        )
    query = form.to_query()
    descending = form.selected_order != "recorded_at"
    start, end = query.window(form.now)
    qs = event_queryset(organization_id=organization.pk, query=query, now=form.now, replica=True).order_by(
        *(("-recorded_at", "-id") if descending else ("recorded_at", "id"))
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    filename = f"audit-trail-events-{query.region}-{stamp}.{fmt}"
    disposition = f'attachment; filename="{filename}"'
    if request.method == "HEAD":  # the headers a GET would send; nothing read, nothing downloaded to record
        response = HttpResponse(content_type=downloads.FORMATS[fmt])
        response["Content-Disposition"] = disposition
        response["Cache-Control"] = "no-store"
        return response
    limit = settings.EXPORT_DOWNLOAD_MAX_ROWS
    filters = {k: v for k, v in request.GET.items() if v and k not in ("cursor",)}
    record(
        organization_id=organization.pk,
        actor=Actor.from_request(request),
        product_name=services.PRODUCT,
        service_name=services.SERVICE,
        method_name="DownloadEvents",
        locality=query.region,
        request_body={"format": fmt, "filters": filters, "max_rows": limit},
    )
    signer = downloads.Signer(
        organization,
        fmt=fmt,
        manifest_id=uuid7(),
        user_id=request.user.pk,
        filename=filename,
        described={
            "region": query.region,
            "filters": filters,
            "window": {"start": iso(start), "end": iso(end)},
            "order": "newest first" if descending else "oldest first",
        },
    )
    stream: Any = (downloads.stream_csv if fmt == "csv" else downloads.stream_ndjson)(
        qs, organization=organization, zone=timezone.get_current_timezone(), limit=limit, signer=signer
    )
    streamed = StreamingHttpResponse(signer.wrap(stream), content_type=downloads.FORMATS[fmt])
    streamed["Content-Disposition"] = disposition
    streamed["Cache-Control"] = "no-store"
    # The signed manifest is ready at this URL once the file's last byte has left.
    manifest_url = request.build_absolute_uri(reverse("exports:download-manifest", args=[signer.manifest_id]))
    streamed["Link"] = f'<{manifest_url}>; rel="describedby"; type="application/json"'
    return streamed  # type: ignore[return-value]  # permission_required's typing wants HttpResponse; Django serves any HttpResponseBase


@require_safe
@login_required
@permission_required("audit_trail:read", method="GetDownloadManifest")
def download_manifest(request: ConsoleRequest, manifest_id: uuid.UUID) -> HttpResponse:
    """A download's signed manifest (the URL its `Link` header named), as a JSON file."""
    organization = request.organization
    assert organization is not None
    found = selectors.download_manifest_get(organization=organization, manifest_id=manifest_id)
    if found is None:
        raise Http404("No such manifest, or its download has not finished yet.")
    response = JsonResponse(found.manifest, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="{found.filename}.manifest.json"'
    response["Cache-Control"] = "no-store"
    return response
