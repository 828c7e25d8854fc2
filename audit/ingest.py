"""Batch ingestion: external producers feed the trail (our extension to Scaleway's API).

A batch is up to `MAX_BATCH` events in the wire shape of ListEvents (reference §3.1). Every
event is validated; one bad event refuses the whole batch, and the errors name each bad event
by its index. A valid batch is stored in one transaction through `audit.services.record_many`,
which skips events whose id is already stored in the organization, so a retried batch creates
nothing new.

Whatever the database or the renderers cannot take is refused here, named, rather than failing
later: NUL characters, timestamps beyond what a datetime or a partition holds, scoped IPv6
addresses, JSON nested deeper than `MAX_JSON_DEPTH` or numbers beyond 64 bits.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from django.db.models import Q, Value
from django.utils import timezone

from audit.models import Event, PrincipalType
from audit.redaction import redacted
from audit.services import EventRow, record_many
from core.regions import LOCALITY_RE, region_of
from iam.models import Application, Organization, Project, User

MAX_BATCH = 1000
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_RESOURCES = 50
MAX_REQUEST_BODY_BYTES = 64 * 1024
# Clock skew we tolerate; later timestamps would land past the prepared monthly partitions.
MAX_FUTURE = timedelta(minutes=5)
# Nothing audited predates the Unix epoch (nor can a UUIDv7 name it); earlier dates only come from
# mistakes, and the far past breaks date arithmetic (year 1 minus an hour).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# Request bodies and resource infos are free JSON. Bounded, because every reader recurses: the
# redaction, the JSON encoders (orjson stops at 255 levels, the standard library's indenting one
# used by the drawer at about 1,000) and Django's JSONField decoding each row it reads.
MAX_JSON_DEPTH = 32
# JSON numbers are stored as such; beyond 64 bits, orjson cannot encode them and CEL rules
# (alerts) cannot take them.
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
MAX_SERVICE_NAME = 128  # the column's length; the pattern alone does not bound it

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
_NAMES = (
    ("product_name", PRODUCT_RE, "secret-manager"),
    ("service_name", SERVICE_RE, "scaleway.secret_manager.v1beta1.Api"),
    ("method_name", METHOD_RE, "CreateSecret"),
)


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
                items.append(orjson.loads(line))
            except ValueError:
                items.append(None)
                errors.append(_detail(index, "", "format", "this line is not valid JSON"))
        if errors:
            raise BatchInvalid(errors)
    else:
        try:
            payload = orjson.loads(raw) if raw.strip() else None
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
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        return None


def _is_timestamp(value: Any) -> bool:
    """`_timestamp(value) is not None`, without the conversion."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _is_resource_type(value: Any) -> bool:
    return _matches(RESOURCE_TYPE_RE, value)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    """`value` is a string that `pattern` matches."""
    return isinstance(value, str) and _matches_string(pattern, value)


@lru_cache(maxsize=4096)
def _matches_string(pattern: re.Pattern[str], value: str) -> bool:
    """Remembered: a batch repeats its names."""
    return pattern.match(value) is not None


@lru_cache(maxsize=1024)
def _resource_keys(keys: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]:
    """A resource's `<type>_info` keys, and the errors its keys earn (`.key`, reason, message).
    Remembered: a producer sends the same few shapes over and over."""
    infos, errors = [], []
    for key in keys:
        if key in RESOURCE_FIELDS:
            continue
        if isinstance(key, str) and INFO_KEY_RE.match(key):  # usually just the one
            infos.append(key)
        else:
            errors.append((f".{str(key)[:64]}", "unknown", "unknown resource field"))
    if len(infos) > 1:
        errors.append(("", "constraint", "a resource carries at most one *_info object"))
    return tuple(infos), tuple(errors)


@lru_cache(maxsize=4096)
def _ip(value: str) -> str:
    """The canonical spelling of an IP address (a batch often repeats a few). Raises ValueError,
    also on a scoped IPv6 address (fe80::1%eth0): the zone means nothing off its host, and
    neither PostgreSQL's inet nor Django's GenericIPAddressField takes it."""
    address = ipaddress.ip_address(value)
    if getattr(address, "scope_id", None) is not None:
        raise ValueError(value)
    return str(address)


def _has_nul(value: Any, depth: int = 0) -> bool:
    """PostgreSQL refuses NUL in text and jsonb, keys included. Looks no deeper than any stored
    value may go (`_json_problem` refuses those), so that no nesting can exhaust the stack."""
    if isinstance(value, str):
        return "\x00" in value
    if depth > MAX_JSON_DEPTH + 4:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


def _json_problem(value: dict[str, Any] | list[Any], depth: int = 1) -> str | None:
    """Why a parsed JSON object or array cannot be stored and shown, or None.

    Nested deeper than MAX_JSON_DEPTH (`value` itself is at `depth`), or holding an integer
    beyond 64 bits. NUL characters are `_has_nul`'s.
    """
    if depth > MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is dict or kind is list:
            if (problem := _json_problem(item, depth + 1)) is not None:
                return problem
        elif kind is int and not MIN_INT <= item <= MAX_INT:
            return "holds an integer beyond 64 bits"
    return None


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class _Validator:
    """Checks one event at a time, collecting errors, and builds each valid one's row.

    One pass per event: the happy path reads each field once and goes straight to
    `audit.services.event_row` (no model instance); errors are collected on the side.
    """

    def __init__(
        self, organization: Organization, *, payload_size: int | None = None, payload_has_nul: bool = True
    ) -> None:
        self.organization = organization
        self.organization_id = organization.pk
        # JSON can only carry NUL as the escape \u0000, so a payload without one needs no deep scan.
        self.check_nul = payload_has_nul
        # A request body cannot be larger than the payload that carried it.
        self.check_body_size = payload_size is None or payload_size > MAX_REQUEST_BODY_BYTES
        self.errors: list[dict[str, str]] = []
        self.latest = timezone.now() + MAX_FUTURE
        self.uuids: dict[str, uuid.UUID | None] = {}
        self.known_projects: set[uuid.UUID] = set()
        self.known_principals: dict[uuid.UUID, tuple[str, str]] = {}
        self.regions: dict[tuple[str, str, str, str], str] = {}  # valid name combos -> region
        self.timestamps: dict[str, bool] = {}

    def uuid(self, value: Any) -> uuid.UUID | None:
        """`_uuid`, remembered: prepare() and event() read the same ids, and a batch repeats its
        organization, projects and principals."""
        if not isinstance(value, str):
            return None
        parsed = self.uuids.get(value)
        if parsed is None:
            parsed = self.uuids[value] = _uuid(value)
        return parsed

    def event(self, index: int, item: Any) -> EventRow | None:
        """The event's row, or None (and its errors recorded) when it is invalid."""
        errors = self.errors
        start = len(errors)

        def bad(field: str, reason: str, message: str) -> None:
            errors.append(_detail(index, field, reason, message))

        if not isinstance(item, dict):
            bad("", "format", "an event is a JSON object")
            return None
        if self.check_nul and _has_nul(item):
            bad("", "format", "strings must not contain NUL characters (\\u0000)")
            return None
        if not item.keys() <= EVENT_FIELDS:
            for key in item.keys() - EVENT_FIELDS:
                bad(str(key)[:64], "unknown", "unknown field")
        get = item.get
        if None in map(get, REQUIRED_FIELDS):
            for key in REQUIRED_FIELDS:
                if get(key) is None:
                    bad(key, "required", f"{key} is required")

        if (value := get("id")) is not None and (event_id := self.uuid(value)) is None:
            bad("id", "format", "id must be a UUID")
        if (value := get("recorded_at")) is not None:
            recorded_at = _timestamp(value)
            if recorded_at is None:
                bad("recorded_at", "format", "recorded_at must be an RFC 3339 timestamp with an offset")
            else:
                self.timestamps[value] = True  # its resources' timestamps are often the same string
                if recorded_at > self.latest:
                    bad("recorded_at", "constraint", "recorded_at is in the future")
                elif recorded_at < EARLIEST:
                    bad("recorded_at", "constraint", "recorded_at is before 1970-01-01T00:00:00Z")
        if (value := get("organization_id")) is not None and self.uuid(value) != self.organization_id:
            bad("organization_id", "constraint", "events can only be sent to the API key's organization")
        project_id = None
        if (value := get("project_id")) is not None:
            project_id = self.uuid(value)
            if project_id is None:
                bad("project_id", "format", "project_id must be a UUID")
            elif project_id not in self.known_projects:
                bad("project_id", "constraint", "project_id is not a project of this organization")
        names = locality, product, service, method = (
            get("locality"),
            get("product_name"),
            get("service_name"),
            get("method_name"),
        )
        # A batch repeats a few (locality, product, service, method): one lookup for all four.
        region = (
            self.regions.get(names)
            if type(locality) is type(product) is type(service) is type(method) is str
            else None
        )
        if region is None:
            failed = len(errors)
            if locality is not None and not _matches(LOCALITY_RE, locality):
                bad("locality", "format", "locality is global, a region (fr-par) or a zone (fr-par-1)")
            for key, pattern, example in _NAMES:
                if (value := get(key)) is not None and not _matches(pattern, value):
                    bad(key, "format", f"{key} must look like {example}")
            if isinstance(service, str) and len(service) > MAX_SERVICE_NAME:
                bad("service_name", "constraint", f"service_name is at most {MAX_SERVICE_NAME} characters")
            if len(errors) == failed and None not in names:
                region = self.regions[names] = region_of(locality)
        if (status := get("status_code")) is not None and not (
            type(status) is int and 100 <= status <= 599  # not bool, a subclass of int
        ):
            bad("status_code", "constraint", "status_code is an HTTP status between 100 and 599")
        principal = self.principal(get("principal"), bad)
        source_ip = get("source_ip")
        if source_ip is not None and source_ip != "":
            try:
                if not isinstance(source_ip, str):
                    raise ValueError(source_ip)
                source_ip = _ip(source_ip)
            except ValueError:
                bad("source_ip", "format", "source_ip must be an IP address")
        user_agent = get("user_agent")
        if user_agent is None:
            user_agent = ""
        elif not (isinstance(user_agent, str) and len(user_agent) <= 512):
            bad("user_agent", "constraint", "user_agent is a string of at most 512 characters")
        request_id = get("request_id")
        if request_id is None:
            request_id = ""
        elif not (isinstance(request_id, str) and len(request_id) <= 64):
            bad("request_id", "constraint", "request_id is a string of at most 64 characters")
        resources = self.resources(get("resources"), bad)
        if (body := get("request_body")) is not None:
            if not isinstance(body, dict):
                bad("request_body", "format", "request_body must be a JSON object")
            elif (problem := _json_problem(body)) is not None:
                bad("request_body", "constraint", f"request_body is {problem}")
            elif self.check_body_size and len(orjson.dumps(body)) > MAX_REQUEST_BODY_BYTES:
                bad("request_body", "constraint", f"request_body is at most {MAX_REQUEST_BODY_BYTES} bytes")
        if len(errors) != start:
            return None

        if principal is None:
            kind, principal_id, name = PrincipalType.ANONYMOUS, None, ""
        else:
            principal_id, kind, name = principal
            known_kind, known_name = self.known_principals.get(principal_id, (PrincipalType.USER, ""))
            kind = kind or known_kind
            name = known_name if name is None else name
        # What `audit.services.event_row` builds, with what validation already knows (the region,
        # the redacted resources, the lengths); tests hold the two equal.
        return EventRow(
            event_id,
            recorded_at,
            self.organization_id,
            project_id,
            locality,
            region,
            principal_id,
            kind,
            name[:200],
            source_ip or None,
            user_agent,
            product,
            service,
            method,
            resources,
            request_id,
            redacted(body) if body else {},
            status,
        )

    def principal(self, value: Any, bad: Any) -> tuple[uuid.UUID, str | None, str | None] | None:
        if value is None:
            return None
        if (
            type(value) is dict
            and len(value) == 1
            and type(pk := value.get("id")) is str
            and (principal_id := self.uuids.get(pk)) is not None
        ):
            return principal_id, None, None  # the common {"id": ...}, its id parsed by prepare()
        if not isinstance(value, dict) or not value.keys() <= PRINCIPAL_FIELDS:
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
        return principal_id, kind, name

    def resources(self, value: Any, bad: Any) -> list[dict[str, Any]]:
        """The resources, redacted (as `redacted(value)`) when they are valid."""
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_RESOURCES:
            bad("resources", "format", f"resources is a list of at most {MAX_RESOURCES} objects")
            return []
        timestamp = self.is_timestamp
        copied = None
        for i, resource in enumerate(value):
            if not isinstance(resource, dict):
                bad(f"resources[{i}]", "format", "a resource is a JSON object")
                continue
            infos, key_errors = _resource_keys(tuple(resource))
            for field, reason, message in key_errors:
                bad(f"resources[{i}]{field}", reason, message)
            get = resource.get
            if not _is_resource_type(get("type")):
                bad(f"resources[{i}].type", "format", "type is a resource type such as secret_manager_secret")
            rid = get("id")
            if not isinstance(rid, str) or not 0 < len(rid) <= 200:
                bad(f"resources[{i}].id", "format", "id is a non-empty string of at most 200 characters")
            for key in ("name", "action"):
                if (field := get(key)) is not None and not isinstance(field, str):
                    bad(f"resources[{i}].{key}", "format", f"{key} must be a string or null")
            for key in RESOURCE_TIMESTAMPS:
                if (field := get(key)) is not None and not timestamp(field):
                    bad(f"resources[{i}].{key}", "format", f"{key} must be an RFC 3339 timestamp or null")
            # Redaction: no field of RESOURCE_FIELDS is secret-looking, so only a *_info object can
            # hold a secret (`redacted` would walk every field to learn that).
            for key in infos:
                info = resource[key]
                if not isinstance(info, dict):
                    bad(f"resources[{i}].{key}", "format", f"{key} must be an object")
                elif (problem := _json_problem(info, depth=3)) is not None:  # in a list in an event
                    bad(f"resources[{i}].{key}", "constraint", f"{key} is {problem}")
                elif (new := redacted(info)) is not info:
                    if copied is None:
                        copied = list(value)
                    copied[i] = copied[i] | {key: new}
        return value if copied is None else copied

    def is_timestamp(self, value: Any) -> bool:
        """`_is_timestamp`, remembered for the batch: a resource is usually created or updated
        at the time of its event, whose neighbours often share it."""
        if type(value) is not str:
            return _is_timestamp(value)
        verdict = self.timestamps.get(value)
        if verdict is None:
            verdict = self.timestamps[value] = _is_timestamp(value)
        return verdict

    def prepare(self, items: list[Any]) -> list[uuid.UUID]:
        """Before validating: look up the named projects and principals (at most two queries,
        none when nothing is named) and return the events' ids, so storage can claim them first."""
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

    def stream(self, items: list[Any], *, offset: int = 0) -> Iterator[EventRow]:
        """Validate every item, yielding built rows until the first error, then none; raise
        BatchInvalid at the end if any item was bad (a consumer storing as it goes must roll
        back: `record_many` does)."""
        event = self.event
        for index, item in enumerate(items, start=offset):
            row = event(index, item)
            if row is not None and not self.errors:
                yield row
        if self.errors:
            raise BatchInvalid(self.errors[:MAX_BATCH])


def _principals(organization: Organization, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """id -> (principal type, name) for the organization's applications and users (its owner and
    active members). One query (a UNION of both tables); an application wins over a user sharing
    its id. Anyone else's id keeps the name its producer sent, if any: naming another
    organization's user would put their e-mail in this trail (and in its searches)."""
    if not ids:
        return {}
    users = (
        User.objects.filter(pk__in=ids)
        .filter(
            Q(pk=organization.owner_id)
            | Q(memberships__organization=organization, memberships__removed_at__isnull=True)
        )
        .order_by()  # no ORDER BY inside a UNION
        .values_list("pk", "email", Value(PrincipalType.USER.value))
    )
    applications = (
        Application.objects.filter(organization=organization, pk__in=ids)
        .order_by()
        .values_list("pk", "name", Value(PrincipalType.APPLICATION.value))
    )
    found: dict[uuid.UUID, tuple[str, str]] = {}
    for pk, name, kind in users.union(applications, all=True):
        if kind == PrincipalType.APPLICATION or pk not in found:
            found[pk] = (kind, name)
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
    return [Event(*row) for row in validator.stream(items, offset=offset)]


def ingest_events(
    items: list[Any],
    *,
    organization: Organization,
    offset: int = 0,
    payload_size: int | None = None,
    payload_has_nul: bool = True,
) -> IngestResult:
    """Validate and store one batch, all or nothing. Events whose id the organization already
    holds are skipped.

    Rows are built while the database stores the previous ones (`record_many` streams them
    into one COPY); a bad event anywhere aborts the whole batch.
    """
    validator = _Validator(organization, payload_size=payload_size, payload_has_nul=payload_has_nul)
    keys = [(organization.pk, pk) for pk in validator.prepare(items)]
    # Every item is validated, whatever the keys: record_many draws every row from the stream.
    created = record_many(validator.stream(items, offset=offset), keys=keys)
    return IngestResult(received=len(items), created=len(created))


def ingest_payload(raw: bytes, *, organization: Organization, ndjson: bool = False) -> IngestResult:
    """Parse, validate and store a request body (see `parse_payload`)."""
    return ingest_events(
        parse_payload(raw, ndjson=ndjson),
        organization=organization,
        payload_size=len(raw),
        payload_has_nul=b"\\u0000" in raw,
    )
