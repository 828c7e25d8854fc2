"""Batch ingestion: external producers feed the trail (our extension to Scaleway's API).

A batch is up to `MAX_BATCH` events in the wire shape of ListEvents (reference §3.1). Every
event is validated; one bad event refuses the whole batch, and the errors name each bad event
by its index. A valid batch is stored in one transaction through `audit.services.record_new`,
which skips events whose id is already stored, so a retried batch creates nothing new.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.utils import timezone

from audit.models import Event, PrincipalType
from audit.regions import LOCALITY_RE
from audit.services import Actor, build_event, record_new
from iam.models import Application, Organization, Project, User

MAX_BATCH = 1000
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_RESOURCES = 50
MAX_REQUEST_BODY_BYTES = 64 * 1024
# Clock skew we tolerate; later timestamps would land past the prepared monthly partitions.
MAX_FUTURE = timedelta(minutes=5)

PRODUCT_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
SERVICE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_]+){1,8}$")
METHOD_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,127}$")
RESOURCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
INFO_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}_info$")

EVENT_FIELDS = frozenset(
    {
        "id",
        "recorded_at",
        "locality",
        "principal",
        "organization_id",
        "project_id",
        "source_ip",
        "user_agent",
        "product_name",
        "service_name",
        "method_name",
        "resources",
        "request_id",
        "request_body",
        "status_code",
    }
)
REQUIRED_FIELDS = (
    "id",
    "recorded_at",
    "locality",
    "product_name",
    "service_name",
    "method_name",
    "status_code",
)
PRINCIPAL_FIELDS = frozenset({"id", "type", "name"})
RESOURCE_FIELDS = frozenset({"id", "type", "name", "action", "created_at", "updated_at", "deleted_at"})
RESOURCE_TIMESTAMPS = ("created_at", "updated_at", "deleted_at")


class BatchInvalid(Exception):
    """The batch is refused; `details` are `invalid_arguments` details naming each bad event."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__(f"{len(details)} error(s)")
        self.details = details


@dataclass(frozen=True)
class IngestResult:
    received: int
    created: int

    @property
    def duplicates(self) -> int:
        return self.received - self.created


def _detail(index: int | None, field: str, reason: str, message: str) -> dict[str, str]:
    name = f"events[{index}]" if index is not None else "events"
    if field:
        name += f".{field}"
    return {"argument_name": name, "reason": reason, "help_message": message}


def parse_payload(raw: bytes, *, ndjson: bool = False) -> list[Any]:
    """The batch's items: `{"events": [...]}` or `[...]`, or one JSON object per line (NDJSON)."""
    items = parse_payload_unbounded(raw, ndjson=ndjson)
    if len(items) > MAX_BATCH:
        raise BatchInvalid(
            [_detail(None, "", "constraint", f"a batch holds at most {MAX_BATCH} events, not {len(items)}")]
        )
    return items


def parse_payload_unbounded(raw: bytes, *, ndjson: bool = False) -> list[Any]:
    """As `parse_payload`, without the batch limit (a file given to `manage.py ingest`)."""
    if ndjson:
        items: list[Any] = []
        errors = []
        for index, line in enumerate(_lines(raw)):
            try:
                items.append(json.loads(line))
            except ValueError:
                items.append(None)
                errors.append(_detail(index, "", "format", "this line is not valid JSON"))
        if errors:
            raise BatchInvalid(errors)
    else:
        try:
            payload = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            raise BatchInvalid([_detail(None, "", "format", "the body is not valid JSON")]) from None
        if isinstance(payload, dict) and set(payload) == {"events"}:
            payload = payload["events"]
        if not isinstance(payload, list):
            raise BatchInvalid(
                [_detail(None, "", "format", 'send {"events": [...]}, a JSON array, or NDJSON')]
            )
        items = payload
    if not items:
        raise BatchInvalid([_detail(None, "", "required", "the batch holds no event")])
    return items


def _lines(raw: bytes) -> Iterator[bytes]:
    for line in raw.splitlines():
        if line.strip():
            yield line


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


@lru_cache(maxsize=4096)
def _ip(value: str) -> str:
    """The canonical spelling of an IP address (a batch often repeats a few). Raises ValueError."""
    return str(ipaddress.ip_address(value))


def _has_nul(value: Any) -> bool:
    """PostgreSQL refuses NUL in text and jsonb, keys included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class _Validator:
    """Checks one event at a time, collecting errors; returns the cleaned fields or None."""

    def __init__(
        self, organization: Organization, *, payload_size: int | None = None, payload_has_nul: bool = True
    ) -> None:
        self.organization = organization
        # JSON can only carry NUL as the escape \u0000, so a payload without one needs no deep scan.
        self.check_nul = payload_has_nul
        # A request body cannot be larger than the payload that carried it.
        self.check_body_size = payload_size is None or payload_size > MAX_REQUEST_BODY_BYTES
        self.errors: list[dict[str, str]] = []
        self.latest = timezone.now() + MAX_FUTURE
        self.uuids: dict[str, uuid.UUID | None] = {}
        self.known_projects: set[uuid.UUID] = set()
        self.known_principals: dict[uuid.UUID, tuple[str, str]] = {}

    def uuid(self, value: Any) -> uuid.UUID | None:
        """`_uuid`, remembered: prepare() and event() read the same ids, and a batch repeats its
        organization, projects and principals."""
        if not isinstance(value, str):
            return None
        parsed = self.uuids.get(value)
        if parsed is None:
            parsed = self.uuids[value] = _uuid(value)
        return parsed

    def event(self, index: int, item: Any) -> dict[str, Any] | None:
        start = len(self.errors)

        def bad(field: str, reason: str, message: str) -> None:
            self.errors.append(_detail(index, field, reason, message))

        if not isinstance(item, dict):
            bad("", "format", "an event is a JSON object")
            return None
        if self.check_nul and _has_nul(item):
            bad("", "format", "strings must not contain NUL characters (\\u0000)")
            return None
        for key in item.keys() - EVENT_FIELDS:
            bad(str(key)[:64], "unknown", "unknown field")
        for key in REQUIRED_FIELDS:
            if item.get(key) is None:
                bad(key, "required", f"{key} is required")
        clean: dict[str, Any] = {}

        if (value := item.get("id")) is not None:
            clean["id"] = self.uuid(value)
            if clean["id"] is None:
                bad("id", "format", "id must be a UUID")
        if (value := item.get("recorded_at")) is not None:
            clean["recorded_at"] = _timestamp(value)
            if clean["recorded_at"] is None:
                bad("recorded_at", "format", "recorded_at must be an RFC 3339 timestamp with an offset")
            elif clean["recorded_at"] > self.latest:
                bad("recorded_at", "constraint", "recorded_at is in the future")
        if (value := item.get("organization_id")) is not None and self.uuid(value) != self.organization.pk:
            bad("organization_id", "constraint", "events can only be sent to the API key's organization")
        if (value := item.get("project_id")) is not None:
            project_id = self.uuid(value)
            if project_id is None:
                bad("project_id", "format", "project_id must be a UUID")
            elif project_id not in self.known_projects:
                bad("project_id", "constraint", "project_id is not a project of this organization")
            else:
                clean["project_id"] = project_id
        if (value := item.get("locality")) is not None:
            if isinstance(value, str) and LOCALITY_RE.match(value):
                clean["locality"] = value
            else:
                bad("locality", "format", "locality is global, a region (fr-par) or a zone (fr-par-1)")
        for key, pattern, example in (
            ("product_name", PRODUCT_RE, "secret-manager"),
            ("service_name", SERVICE_RE, "scaleway.secret_manager.v1beta1.Api"),
            ("method_name", METHOD_RE, "CreateSecret"),
        ):
            if (value := item.get(key)) is not None:
                if isinstance(value, str) and pattern.match(value):
                    clean[key] = value
                else:
                    bad(key, "format", f"{key} must look like {example}")
        if (value := item.get("status_code")) is not None:
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                clean["status_code"] = value
            else:
                bad("status_code", "constraint", "status_code is an HTTP status between 100 and 599")
        clean["principal"] = self.principal(item.get("principal"), bad)
        if (value := item.get("source_ip")) not in (None, ""):
            try:
                if not isinstance(value, str):
                    raise ValueError(value)
                clean["source_ip"] = _ip(value)
            except ValueError:
                bad("source_ip", "format", "source_ip must be an IP address")
        for key, limit in (("user_agent", 512), ("request_id", 64)):
            if (value := item.get(key)) is not None:
                if isinstance(value, str) and len(value) <= limit:
                    clean[key] = value
                else:
                    bad(key, "constraint", f"{key} is a string of at most {limit} characters")
        clean["resources"] = self.resources(item.get("resources"), bad)
        if (value := item.get("request_body")) is not None:
            if not isinstance(value, dict):
                bad("request_body", "format", "request_body must be a JSON object")
            elif self.check_body_size and len(json.dumps(value)) > MAX_REQUEST_BODY_BYTES:
                bad("request_body", "constraint", f"request_body is at most {MAX_REQUEST_BODY_BYTES} bytes")
            else:
                clean["request_body"] = value
        return clean if len(self.errors) == start else None

    def principal(self, value: Any, bad: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or value.keys() - PRINCIPAL_FIELDS:
            bad("principal", "format", 'principal is {"id": "<uuid>"} (optionally "type" and "name")')
            return None
        principal_id = self.uuid(value.get("id"))
        if principal_id is None:
            bad("principal.id", "format", "principal.id must be a UUID")
            return None
        kind = value.get("type")
        if kind is not None and kind not in (PrincipalType.USER, PrincipalType.APPLICATION):
            bad("principal.type", "constraint", "principal.type is user or application")
            return None
        name = value.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            bad("principal.name", "constraint", "principal.name is a string of at most 200 characters")
            return None
        return {"id": principal_id, "type": kind, "name": name}

    def resources(self, value: Any, bad: Any) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_RESOURCES:
            bad("resources", "format", f"resources is a list of at most {MAX_RESOURCES} objects")
            return []
        for i, resource in enumerate(value):
            where = f"resources[{i}]"
            if not isinstance(resource, dict):
                bad(where, "format", "a resource is a JSON object")
                continue
            infos = []
            for key in resource.keys() - RESOURCE_FIELDS:  # usually just the `<type>_info` key
                if INFO_KEY_RE.match(key):
                    infos.append(key)
                else:
                    bad(f"{where}.{key[:64]}", "unknown", "unknown resource field")
            if len(infos) > 1:
                bad(where, "constraint", "a resource carries at most one *_info object")
            for key in infos:
                if not isinstance(resource[key], dict):
                    bad(f"{where}.{key}", "format", f"{key} must be an object")
            kind = resource.get("type")
            if not isinstance(kind, str) or not RESOURCE_TYPE_RE.match(kind):
                bad(f"{where}.type", "format", "type is a resource type such as secret_manager_secret")
            rid = resource.get("id")
            if not isinstance(rid, str) or not 0 < len(rid) <= 200:
                bad(f"{where}.id", "format", "id is a non-empty string of at most 200 characters")
            for key in ("name", "action"):
                if resource.get(key) is not None and not isinstance(resource[key], str):
                    bad(f"{where}.{key}", "format", f"{key} must be a string or null")
            for key in RESOURCE_TIMESTAMPS:
                if resource.get(key) is not None and _timestamp(resource[key]) is None:
                    bad(f"{where}.{key}", "format", f"{key} must be an RFC 3339 timestamp or null")
        return value

    def prepare(self, items: list[Any]) -> list[uuid.UUID]:
        """Before validating: look up the named projects and principals (at most three queries,
        none when nothing is named) and return the events' ids, so storage can probe them first."""
        ids, projects, principals = [], set(), set()
        for item in items:
            if not isinstance(item, dict):
                continue
            if (pk := self.uuid(item.get("id"))) is not None:
                ids.append(pk)
            if (pk := self.uuid(item.get("project_id"))) is not None:
                projects.add(pk)
            principal = item.get("principal")
            if isinstance(principal, dict) and (pk := self.uuid(principal.get("id"))) is not None:
                principals.add(pk)
        if projects:
            self.known_projects = set(
                Project.objects.filter(organization=self.organization, pk__in=projects).values_list(
                    "pk", flat=True
                )
            )
        self.known_principals = _principals(self.organization, principals)
        return ids

    def stream(self, items: list[Any], *, offset: int = 0) -> Iterator[Event]:
        """Validate every item, yielding built events until the first error, then none; raise
        BatchInvalid at the end if any item was bad (a consumer storing as it goes must roll
        back: `record_new` does)."""
        for index, item in enumerate(items, start=offset):
            clean = self.event(index, item)
            if clean is not None and not self.errors:
                yield self.build(clean)
        if self.errors:
            raise BatchInvalid(self.errors[:MAX_BATCH])

    def build(self, clean: dict[str, Any]) -> Event:
        principal = clean["principal"]
        if principal is None:
            kind, principal_id, name = PrincipalType.ANONYMOUS, None, ""
        else:
            kind, name = self.known_principals.get(principal["id"], (PrincipalType.USER, ""))
            kind = principal["type"] or kind
            principal_id = principal["id"]
            name = principal["name"] if principal["name"] is not None else name
        actor = Actor(
            principal_type=kind,
            principal_id=principal_id,
            principal_name=name,
            source_ip=clean.get("source_ip"),
            user_agent=clean.get("user_agent", ""),
            request_id=clean.get("request_id", ""),
        )
        return build_event(
            id=clean["id"],
            recorded_at=clean["recorded_at"],
            organization_id=self.organization.pk,
            project_id=clean.get("project_id"),
            locality=clean["locality"],
            actor=actor,
            product_name=clean["product_name"],
            service_name=clean["service_name"],
            method_name=clean["method_name"],
            status_code=clean["status_code"],
            resources=clean["resources"],
            request_body=clean.get("request_body"),
        )


def _principals(organization: Organization, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """id -> (principal type, name) for the organization's applications and users. Two queries."""
    if not ids:
        return {}
    found: dict[uuid.UUID, tuple[str, str]] = {
        pk: (PrincipalType.USER, email)
        for pk, email in User.objects.filter(pk__in=ids).values_list("pk", "email")
    }
    found.update(
        (pk, (PrincipalType.APPLICATION, name))
        for pk, name in Application.objects.filter(organization=organization, pk__in=ids).values_list(
            "pk", "name"
        )
    )
    return found


def validate(
    items: list[Any], *, organization: Organization, offset: int = 0, payload_size: int | None = None
) -> list[Event]:
    """Every item checked against the Event schema; raises BatchInvalid naming each bad one.

    `offset` is the index of items[0] in the whole input, for error messages; `payload_size`
    the byte size of the JSON the items came from, when known.
    """
    validator = _Validator(organization, payload_size=payload_size)
    validator.prepare(items)
    return list(validator.stream(items, offset=offset))


def ingest_events(
    items: list[Any],
    *,
    organization: Organization,
    offset: int = 0,
    payload_size: int | None = None,
    payload_has_nul: bool = True,
) -> IngestResult:
    """Validate and store one batch, all or nothing. Events whose id is stored are skipped.

    Events are built while the database stores the previous ones (`record_new` streams them
    into one COPY); a bad event anywhere aborts the whole batch.
    """
    validator = _Validator(organization, payload_size=payload_size, payload_has_nul=payload_has_nul)
    ids = validator.prepare(items)
    created = record_new(validator.stream(items, offset=offset), ids=ids)
    return IngestResult(received=len(items), created=len(created))


def ingest_payload(raw: bytes, *, organization: Organization, ndjson: bool = False) -> IngestResult:
    """Parse, validate and store a request body (see `parse_payload`)."""
    return ingest_events(
        parse_payload(raw, ndjson=ndjson),
        organization=organization,
        payload_size=len(raw),
        payload_has_nul=b"\\u0000" in raw,
    )
