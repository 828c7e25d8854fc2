"""Batch ingestion, our extension (under /x/): external producers store events through the door.

One `api.declare.Operation` whose body the view reads itself (JSON, a JSON array or NDJSON, up to
`audit.ingest.MAX_BATCH_BYTES`); its schema describes what `audit.ingest` accepts.
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from api.audit_trail import RESOURCE_TYPE, SOURCE_IP_MAX
from api.declare import Args, Body, component, json_response, operation, ref
from api.http import ApiError, argument_error, invalid_arguments
from api.schemas import ABSENT, INTEGER, NO_NUL, NULLABLE_TIMESTAMP, TIMESTAMP, UUID, closed, text
from audit import ingest
from core.regions import DEFAULT_REGION, LOCALITY_RE
from iam.http import ApiRequest

# What ingestion stores (audit.ingest): strings without NUL (PostgreSQL refuses it), integers
# within 64 bits, and null wherever a field may be left out.
INGEST_JSON = component(
    "IngestJSON",
    {
        "anyOf": [
            {"type": ["null", "boolean"]},
            {"type": "number", "not": {"type": "integer"}},
            {"type": "integer", "minimum": ingest.MIN_INT, "maximum": ingest.MAX_INT},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": ref("IngestJSON")},
            {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": ref("IngestJSON"),
            },
        ],
    },
)
INGEST_RESOURCE = component(
    "IngestResource",
    {
        "type": "object",
        "required": ["id", "type"],
        "properties": {
            "id": text(200, minLength=1),
            "type": RESOURCE_TYPE,
            "name": {"type": ["string", "null"], "pattern": NO_NUL},
            "action": {"type": ["string", "null"], "pattern": NO_NUL},
            "created_at": {**NULLABLE_TIMESTAMP, "maxLength": 64},
            "updated_at": {**NULLABLE_TIMESTAMP, "maxLength": 64},
            "deleted_at": {**NULLABLE_TIMESTAMP, "maxLength": 64},
        },
        "patternProperties": {
            ingest.INFO_KEY_RE.pattern: {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": INGEST_JSON,
            }
        },
        "additionalProperties": False,
        "description": "At most one `<x>_info` object, chosen by type (reference §3.3).",
    },
)
INGEST_EVENT = component(
    "IngestEvent",
    {
        "type": "object",
        "additionalProperties": False,
        "required": list(ingest.REQUIRED_FIELDS),
        "properties": {
            "id": {
                **UUID,
                "description": "The idempotency key: an id the organization already holds is skipped.",
            },
            "recorded_at": {
                **TIMESTAMP,
                "maxLength": 64,
                "description": "With an offset; from 1970-01-01T00:00:00Z to 5 minutes ahead.",
            },
            "locality": {"type": "string", "pattern": LOCALITY_RE.pattern},
            "principal": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "required": ["id"],
                "properties": {
                    "id": UUID,
                    "type": {"enum": ["user", "application", None]},
                    "name": {**text(200), "type": ["string", "null"]},
                },
            },
            "organization_id": {
                "anyOf": [UUID, {"type": "null"}],
                "description": "Must be the API key's organization.",
            },
            "project_id": {
                "anyOf": [UUID, {"type": "null"}],
                "description": "A project of the organization.",
            },
            "source_ip": {
                "anyOf": [{"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}, ABSENT],
                "maxLength": SOURCE_IP_MAX,
            },
            "user_agent": {**text(512), "type": ["string", "null"]},
            "product_name": {"type": "string", "pattern": ingest.PRODUCT_RE.pattern},
            "service_name": {
                "type": "string",
                "pattern": ingest.SERVICE_RE.pattern,
                "maxLength": ingest.MAX_SERVICE_NAME,
            },
            "method_name": {"type": "string", "pattern": ingest.METHOD_RE.pattern},
            "resources": {
                "type": ["array", "null"],
                "maxItems": ingest.MAX_RESOURCES,
                "items": INGEST_RESOURCE,
            },
            "request_id": {**text(64), "type": ["string", "null"]},
            "request_body": {
                "type": ["object", "null"],
                "propertyNames": {"pattern": NO_NUL},
                "additionalProperties": INGEST_JSON,
                "description": (
                    "Secret-looking keys are stored REDACTED. At most "
                    f"{ingest.MAX_JSON_DEPTH} levels deep and {ingest.MAX_REQUEST_BODY_BYTES} bytes."
                ),
            },
            "status_code": {"type": "integer", "minimum": 100, "maximum": 599},
        },
    },
)
INGEST_REQUEST = component(
    "IngestRequest",
    {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {"type": "array", "minItems": 1, "maxItems": ingest.MAX_BATCH, "items": INGEST_EVENT}
        },
    },
)


@operation(
    "POST",
    "IngestEvents",
    summary=f"Store a batch of up to {ingest.MAX_BATCH} events, all or nothing, idempotent by id",
    tag="Ingestion (extension)",
    action="audit_trail:ingest",
    locality=DEFAULT_REGION,
    organization=False,
    description=(
        "Needs the AuditTrailEventsWriter permission set. The body is "
        '`{"events": [...]}`, a JSON array, or NDJSON (`application/x-ndjson`, one '
        "event per line). A batch with any invalid event stores nothing and answers "
        "invalid_arguments whose details name each bad event as `events[<index>]`."
    ),
    body=Body(
        "IngestRequest",
        raw=True,
        required_body=True,
        content={
            "application/json": {"schema": INGEST_REQUEST},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    ),
    response=component(
        "IngestResponse",
        closed(
            {
                "received": INTEGER,
                "created": INTEGER,
                "duplicates": {"type": "integer", "description": "Events whose id was already stored."},
            },
            required=["received", "created", "duplicates"],
        ),
    ),
    responses={"413": json_response(ref("Error"), "the batch is larger than the limit (invalid_arguments)")},
)
def ingest_events(request: ApiRequest, args: Args) -> HttpResponse:
    """POST up to 1,000 events (JSON `{"events": [...]}`, a JSON array, or NDJSON).

    The batch is validated whole and stored whole, or refused with every bad event named by
    its index. Events already stored (same id) are skipped, so a retried batch is harmless.
    """
    raw = _read_limited(request)
    content_type = request.content_type or ""
    ndjson = "ndjson" in content_type or "jsonlines" in content_type
    try:
        result = ingest.ingest_payload(raw, organization=request.organization, ndjson=ndjson)
    except ingest.BatchInvalid as invalid:
        raise invalid_arguments(invalid.details) from None
    return JsonResponse(
        {"received": result.received, "created": result.created, "duplicates": result.duplicates}
    )


def _read_limited(request: ApiRequest) -> bytes:
    """The body, read from the stream: a batch may exceed DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = ingest.MAX_BATCH_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _too_large(limit)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    return raw


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        {
            "message": f"the batch is larger than {limit} bytes; send at most {ingest.MAX_BATCH} events",
            "type": "invalid_arguments",
            "details": [argument_error("body", "constraint", f"at most {limit} bytes")],
        },
    )
