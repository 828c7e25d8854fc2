"""Export jobs (reference §2.7, §3.7): create, list and delete, wire-compatible with Scaleway's.

A job exports the organization's events of the path's region, every day, to `s3.bucket` in
`s3.region` (`exports.services`). Listing needs AuditTrailExportRead (or a set that may change
jobs); creating and deleting need AuditTrailExportDelete, AuditTrailFullAccess or
OrganizationManager. Both writes are audited, and each run is a system event.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, JsonResponse

from api.alerts import PAGE, REGION
from api.declare import Args, Body, Field, PathParam, Query, component, operation
from api.http import Params, not_found
from api.schemas import (
    INTEGER,
    NULLABLE_TIMESTAMP,
    SINGLE_LINE_NAME,
    STRING,
    UUID,
    Schema,
    array,
    closed,
    optional,
    text,
)
from audit.services import Actor
from core.regions import REGION_RE
from core.time import iso
from exports import selectors, services
from exports.models import ExportJob
from iam.http import ApiRequest

TAG = "Audit Trail"
READ, WRITE = "audit_trail:export_read", "audit_trail:export_write"
NAME_MAX, TAG_MAX, TAGS_MAX, PREFIX_MAX = 255, 128, 50, 255
ORDER_BY = ("name_asc", "name_desc", "created_at_asc", "created_at_desc")
ORDERING = {
    "name_asc": ("name", "created_at"),
    "name_desc": ("-name", "-created_at"),
    "created_at_asc": ("created_at", "id"),
    "created_at_desc": ("-created_at", "-id"),
}
BUCKET_RE = services.BUCKET_RE
TAG_RE = re.compile(SINGLE_LINE_NAME)
EXPORT_JOB_ID = PathParam("export_job_id", UUID)
STATUS_CODES = ("unknown_code", "success", "failure")


def export_job_json(job: ExportJob) -> dict[str, Any]:
    """An ExportJob (§3.7)."""
    return {
        "id": str(job.pk),
        "organization_id": str(job.organization_id),
        "name": job.name,
        "tags": list(job.tags),
        "s3": {
            "bucket": job.bucket,
            "region": job.s3_region,
            "prefix": job.prefix or None,
            "project_id": str(job.project_id) if job.project_id else None,
        },
        "created_at": iso(job.created_at),
        "last_run_at": iso(job.last_run_at),
        "last_status": {"code": job.last_status, "message": job.last_message or None}
        if job.last_status
        else None,
    }


EXPORT_JOB = component(
    "ExportJob",
    closed(
        {
            "id": UUID,
            "organization_id": UUID,
            "name": STRING,
            "tags": array(STRING),
            "s3": closed(
                {
                    "bucket": STRING,
                    "region": STRING,
                    "prefix": {"type": ["string", "null"]},
                    "project_id": {**UUID, "type": ["string", "null"]},
                },
                required=["bucket", "region"],
            ),
            "created_at": NULLABLE_TIMESTAMP,
            "last_run_at": NULLABLE_TIMESTAMP,
            "last_status": {
                "type": ["object", "null"],
                "properties": {
                    "code": {"type": "string", "enum": list(STATUS_CODES)},
                    "message": {"type": ["string", "null"]},
                },
                "required": ["code"],
                "additionalProperties": False,
            },
        },
        required=["id", "organization_id", "name", "tags", "s3"],
    ),
)


# --- parsing -----------------------------------------------------------------------------------


def _tags(params: Params) -> list[str]:
    """A list of short one-line strings, from a JSON body or a repeated query parameter."""
    # In a query an empty value is absent, as for every parameter (Go clients send `tags=`).
    values = [v for v in params.data.getlist("tags") if v != ""] if params.query else params.data.get("tags")
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > TAGS_MAX:
        params.error("tags", "format", f"tags must be a list of at most {TAGS_MAX} strings")
        return []
    tags: list[str] = []
    for index, value in enumerate(values):
        if not isinstance(value, str) or len(value) > TAG_MAX or not TAG_RE.fullmatch(value):
            params.error(
                f"tags[{index}]", "format", f"a tag is a non-empty string of at most {TAG_MAX} characters"
            )
        else:
            tags.append(value.strip())
    return list(dict.fromkeys(tags))


def _s3(params: Params) -> dict[str, Any] | None:
    """The destination: bucket (required), region (a region name), prefix, project_id."""
    value = params.data.get("s3")
    if value is None:
        params.error("s3", "required", "s3 is required: the bucket to export to")
        return None
    if not isinstance(value, dict):
        params.error("s3", "format", "s3 must be an object")
        return None
    s3 = Params(value, prefix="s3.")
    bucket = s3.string("bucket", max_length=63, required=True)
    if bucket is not None and not BUCKET_RE.fullmatch(bucket):
        s3.error("bucket", "format", "bucket must be 3 to 63 lowercase letters, digits, dots and hyphens")
    region = s3.string("region", max_length=16)
    if region is not None and not REGION_RE.fullmatch(region):
        s3.error("region", "format", "region must look like fr-par")
    prefix = s3.string("prefix", max_length=PREFIX_MAX)
    project_id = s3.uuid("project_id")
    params.errors.extend(s3.errors)
    if s3.errors:
        return None
    return {"bucket": bucket, "region": region, "prefix": prefix or "", "project_id": project_id}


def _jobs(request: ApiRequest, region: str) -> QuerySet[ExportJob]:
    return selectors.export_job_list(organization=request.organization, region=region)


def _job(request: ApiRequest, region: str, export_job_id: str) -> ExportJob:
    try:
        pk = uuid.UUID(export_job_id)
    except ValueError:
        raise not_found("export_job", export_job_id) from None
    job = _jobs(request, region).filter(pk=pk).first()
    if job is None:
        raise not_found("export_job", export_job_id)
    return job


def _resources(region: str, export_job_id: str) -> list[dict[str, Any]]:
    return [{"id": export_job_id[:200], "type": services.RESOURCE_TYPE}]


def _check_project(request: ApiRequest, args: Args, params: Params, region: str) -> None:
    """s3.project_id, when given, is one of the organization's projects."""
    s3 = args["s3"]
    project_id = s3["project_id"] if s3 else None
    if project_id is not None and not request.organization.projects.filter(pk=project_id).exists():
        params.error("s3.project_id", "constraint", "project_id must be one of the organization's projects")


TAGS_SCHEMA: Schema = {
    "type": ["array", "null"],
    "maxItems": TAGS_MAX,
    "items": {"type": "string", "minLength": 1, "maxLength": TAG_MAX, "pattern": SINGLE_LINE_NAME},
}


# --- endpoints ---------------------------------------------------------------------------------


@operation(
    "GET",
    "ListExportJobs",
    summary="List the organization's export jobs in the region",
    tag=TAG,
    action=READ,
    path=[REGION],
    query=[
        Query.string("name", max_length=NAME_MAX, description="Only the jobs with exactly this name."),
        Query.custom(
            "tags",
            {"type": "array", "items": TAGS_SCHEMA["items"]},
            _tags,
            "Only the jobs with all these tags.",
        ),
        Query.enum("order_by", ORDER_BY, default="name_asc"),
        *PAGE,
    ],
    response=component(
        "ListExportJobsResponse",
        closed(
            {"export_jobs": array(EXPORT_JOB), "total_count": INTEGER},
            required=["export_jobs", "total_count"],
        ),
    ),
)
def list_export_jobs(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """ListExportJobs: filtered by name and tags, ordered, page-numbered."""
    qs = _jobs(request, region)
    if args["name"]:
        qs = qs.filter(name=args["name"])
    jobs = list(qs.order_by(*ORDERING[args["order_by"]]))
    if args["tags"]:  # JSON containment differs between databases: filter the organization's few jobs here
        wanted = set(args["tags"])
        jobs = [job for job in jobs if wanted <= set(job.tags)]
    start = (args["page"] - 1) * args["page_size"]
    page = jobs[start : start + args["page_size"]]
    return JsonResponse({"export_jobs": [export_job_json(job) for job in page], "total_count": len(jobs)})


@operation(
    "POST",
    "CreateExportJob",
    summary="Create an export job: the region's events, every day, to an S3 bucket",
    tag=TAG,
    action=WRITE,
    path=[REGION],
    body=Body(
        "CreateExportJobRequest",
        [
            Field.custom(
                "name",
                {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": SINGLE_LINE_NAME},
                lambda params: params.string("name", max_length=NAME_MAX, required=True, single_line=True),
            ),
            Field.custom(
                "s3",
                closed(
                    {
                        "bucket": {"type": "string", "pattern": BUCKET_RE.pattern},
                        "region": {"type": ["string", "null"], "pattern": "^([a-z]{2}-[a-z]{3})?$"},
                        "prefix": {**text(PREFIX_MAX), "type": ["string", "null"]},
                        "project_id": optional(UUID),
                    },
                    required=["bucket"],
                ),
                _s3,
            ),
            Field.custom("tags", TAGS_SCHEMA, _tags),
        ],
        required=["name", "s3"],
    ),
    validate=_check_project,
    response=EXPORT_JOB,
)
def create_export_job(request: ApiRequest, args: Args, region: str) -> HttpResponse:
    """CreateExportJob: its first run is enqueued at once (the last 90 days)."""
    s3 = args["s3"]
    job = services.export_job_create(
        actor=Actor.from_request(request),
        organization=request.organization,
        region=region,
        name=args["name"],
        bucket=s3["bucket"],
        s3_region=s3["region"] or region,
        prefix=s3["prefix"],
        project_id=s3["project_id"],
        tags=args["tags"],
    )
    job.refresh_from_db()
    return JsonResponse(export_job_json(job))


@operation(
    "DELETE",
    "DeleteExportJob",
    summary="Delete an export job (the objects it wrote stay in the bucket)",
    tag=TAG,
    action=WRITE,
    path=[REGION, EXPORT_JOB_ID],
    resources=_resources,
    response=None,
    status=204,
)
def delete_export_job(request: ApiRequest, args: Args, region: str, export_job_id: str) -> HttpResponse:
    """DeleteExportJob: 204."""
    job = _job(request, region, export_job_id)
    services.export_job_delete(actor=Actor.from_request(request), job=job)
    return HttpResponse(status=204)
