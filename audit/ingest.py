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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.db.models import Q, Value
from django.utils import timezone

from audit.models import Event, PrincipalType
from audit.services import EventRow, event_from_row, event_row, record_many
from core.regions import LOCALITY_RE
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


def _rfc3339(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (with an offset), parsed; None for anything else. Resources'
    timestamps are stored as sent, so this is all they need."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _in_utc(moment: datetime) -> datetime | None:
    """`moment` in UTC, or None when that is out of datetime's range (0001-01-01T00:00:00+01:00
    is in year 0 in UTC)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    """`value` is a string that `pattern` matches."""
    return isinstance(value, str) and pattern.match(value) is not None


def _ip(value: Any) -> str | None:
    """The canonical spelling of an IP address, or None. None too for a scoped IPv6 address
    (fe80::1%eth0): the zone means nothing off its host, and neither PostgreSQL's inet nor
    Django's GenericIPAddressField takes it."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if getattr(address, "scope_id", None) is not None:
        return None
    return str(address)


class _Parsed[T](dict[str, T | None]):
    """Strings parsed so far in one batch, each once: `parsed.of(value)` is `parse(value)` for a
    string, None for anything else.

    A batch repeats its values: its organization's id in every event, a few principals and source
    addresses, and timestamps (a resource is usually created or updated at its event's time).
    Parsing each of them once halves the cost of checking an event (`manage.py bench_ingest`).
    """

    def __init__(self, parse: Callable[[str], T | None]) -> None:
        super().__init__()
        self.parse = parse

    def __missing__(self, value: str) -> T | None:
        parsed = self[value] = self.parse(value)
        return parsed

    def of(self, value: Any) -> T | None:
        return self[value] if isinstance(value, str) else None


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
    for item in value.values() if isinstance(value, dict) else value:
        if isinstance(item, dict | list):
            if (problem := _json_problem(item, depth + 1)) is not None:
                return problem
        elif isinstance(item, int) and not MIN_INT <= item <= MAX_INT:
            return "holds an integer beyond 64 bits"
    return None


# Records one error of the event being checked: (field, reason, message).
Refuse = Callable[[str, str, str], None]


def _check_text(item: dict[str, Any], key: str, max_length: int, refuse: Refuse) -> str:
    """An optional short string: "" when absent."""
    value = item.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        refuse(key, "constraint", f"{key} is a string of at most {max_length} characters")
    return value


class _Validator:
    """Checks a batch's events one by one, collecting the errors, and builds each valid event's
    row with `audit.services.event_row`.

    `look_up` comes first: it reads the projects and principals that the batch names, so that
    checking an event needs no query. Then `rows` checks each event, one `_check_*` method per
    field or group of fields; each calls `refuse(field, reason, message)` for what is wrong.
    """

    def __init__(
        self, organization: Organization, *, payload_size: int | None = None, payload_has_nul: bool = True
    ) -> None:
        self.organization = organization
        # JSON can only carry NUL as the escape \u0000, so a payload without one needs no deep scan.
        self.check_nul = payload_has_nul
        # A request body cannot be larger than the payload that carried it.
        self.check_body_size = payload_size is None or payload_size > MAX_REQUEST_BODY_BYTES
        self.latest = timezone.now() + MAX_FUTURE
        self.ids = _Parsed(_uuid)
        self.addresses = _Parsed(_ip)
        self.timestamps = _Parsed(_rfc3339)
        # The (locality, product, service, method) found valid so far: a batch repeats a few.
        self.valid_names: set[tuple[object, ...]] = set()
        self.projects: set[uuid.UUID] = set()  # the organization's projects the batch names
        self.principals: dict[uuid.UUID, tuple[str, str]] = {}  # see `_principals`
        self.errors: list[dict[str, str]] = []

    def look_up(self, items: list[Any]) -> list[uuid.UUID]:
        """Read the projects and principals the items name (at most two queries, none when they
        name none) and return the events' ids, so storage can claim them first."""
        ids, projects, principals = [], set(), set()
        for item in items:
            if not isinstance(item, dict):
                continue
            if (pk := self.ids.of(item.get("id"))) is not None:
                ids.append(pk)
            if (pk := self.ids.of(item.get("project_id"))) is not None:
                projects.add(pk)
            principal = item.get("principal")
            if isinstance(principal, dict) and (pk := self.ids.of(principal.get("id"))) is not None:
                principals.add(pk)
        if projects:
            self.projects = set(
                Project.objects.filter(organization=self.organization, pk__in=projects).values_list(
                    "pk", flat=True
                )
            )
        self.principals = _principals(self.organization, principals)
        return ids

    def rows(self, items: list[Any], *, offset: int = 0) -> Iterator[EventRow]:
        """Check every item, yielding built rows until the first error, then none; raise
        BatchInvalid at the end if any item was bad (a consumer storing as it goes must roll
        back: `record_many` does)."""
        for index, item in enumerate(items, start=offset):
            row = self.row(index, item)
            if row is not None and not self.errors:
                yield row
        if self.errors:
            raise BatchInvalid(self.errors[:MAX_BATCH])

    def row(self, index: int, item: Any) -> EventRow | None:
        """The event's row, or None (and its errors recorded) when it is invalid."""
        errors_before = len(self.errors)

        def refuse(field: str, reason: str, message: str) -> None:
            self.errors.append(_detail(index, field, reason, message))

        if not isinstance(item, dict):
            refuse("", "format", "an event is a JSON object")
            return None
        if self.check_nul and _has_nul(item):
            refuse("", "format", "strings must not contain NUL characters (\\u0000)")
            return None
        if not item.keys() <= EVENT_FIELDS:
            for key in item:
                if key not in EVENT_FIELDS:
                    refuse(str(key)[:64], "unknown", "unknown field")
        for key in REQUIRED_FIELDS:
            if item.get(key) is None:
                refuse(key, "required", f"{key} is required")

        event_id = self.ids.of(item.get("id"))
        if item.get("id") is not None and event_id is None:
            refuse("id", "format", "id must be a UUID")
        recorded_at = self._check_recorded_at(item.get("recorded_at"), refuse)
        if (value := item.get("organization_id")) is not None and self.ids.of(value) != self.organization.pk:
            refuse("organization_id", "constraint", "events can only be sent to the API key's organization")
        project_id = self._check_project(item.get("project_id"), refuse)
        self._check_names(item, refuse)
        status_code = item.get("status_code")
        # JSON has one number type: 404.0 is the integer 404 (as JSON Schema reads it too).
        if type(status_code) is float and status_code.is_integer():
            status_code = int(status_code)
        # bool is a subclass of int, but true is no status.
        if status_code is not None and not (type(status_code) is int and 100 <= status_code <= 599):
            refuse("status_code", "constraint", "status_code is an HTTP status between 100 and 599")
        principal = self._check_principal(item.get("principal"), refuse)
        source_ip = item.get("source_ip")
        if source_ip is not None and source_ip != "":
            source_ip = self.addresses.of(source_ip)
            if source_ip is None:
                refuse("source_ip", "format", "source_ip must be an IP address")
        user_agent = _check_text(item, "user_agent", 512, refuse)
        request_id = _check_text(item, "request_id", 64, refuse)
        resources = self._check_resources(item.get("resources"), refuse)
        request_body = self._check_request_body(item.get("request_body"), refuse)
        if len(self.errors) > errors_before:
            return None
        # Each is None only when refused above (required, or malformed).
        assert event_id is not None and recorded_at is not None and status_code is not None

        principal_id, principal_type, principal_name = self._stored_principal(principal)
        return event_row(
            id=event_id,
            recorded_at=recorded_at,
            organization_id=self.organization.pk,
            project_id=project_id,
            locality=item["locality"],
            principal_type=principal_type,
            principal_id=principal_id,
            principal_name=principal_name,
            source_ip=source_ip or None,
            user_agent=user_agent,
            product_name=item["product_name"],
            service_name=item["service_name"],
            method_name=item["method_name"],
            resources=resources,
            request_id=request_id,
            request_body=request_body,
            status_code=status_code,
        )

    def _check_names(self, item: dict[str, Any], refuse: Refuse) -> None:
        """The locality and the product, service and method names."""
        names = locality, _, service, _ = (
            item.get("locality"),
            item.get("product_name"),
            item.get("service_name"),
            item.get("method_name"),
        )
        if all(isinstance(name, str) for name in names) and names in self.valid_names:
            return
        errors_before = len(self.errors)
        if locality is not None and not _matches(LOCALITY_RE, locality):
            refuse("locality", "format", "locality is global, a region (fr-par) or a zone (fr-par-1)")
        for key, pattern, example in _NAMES:
            if (value := item.get(key)) is not None and not _matches(pattern, value):
                refuse(key, "format", f"{key} must look like {example}")
        if isinstance(service, str) and len(service) > MAX_SERVICE_NAME:
            refuse("service_name", "constraint", f"service_name is at most {MAX_SERVICE_NAME} characters")
        if len(self.errors) == errors_before and None not in names:
            self.valid_names.add(names)

    def _check_resources(self, value: Any, refuse: Refuse) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_RESOURCES:
            refuse("resources", "format", f"resources is a list of at most {MAX_RESOURCES} objects")
            return []
        for i, resource in enumerate(value):
            if isinstance(resource, dict):
                self._check_resource(resource, f"resources[{i}]", refuse)
            else:
                refuse(f"resources[{i}]", "format", "a resource is a JSON object")
        return value

    def _check_resource(self, resource: dict[str, Any], name: str, refuse: Refuse) -> None:
        infos = []  # the `<type>_info` objects' keys
        for key in resource:
            if key in RESOURCE_FIELDS:
                continue
            if isinstance(key, str) and INFO_KEY_RE.match(key):
                infos.append(key)
            else:
                refuse(f"{name}.{str(key)[:64]}", "unknown", "unknown resource field")
        if len(infos) > 1:
            refuse(name, "constraint", "a resource carries at most one *_info object")
        if not _matches(RESOURCE_TYPE_RE, resource.get("type")):
            refuse(f"{name}.type", "format", "type is a resource type such as secret_manager_secret")
        resource_id = resource.get("id")
        if not isinstance(resource_id, str) or not 0 < len(resource_id) <= 200:
            refuse(f"{name}.id", "format", "id is a non-empty string of at most 200 characters")
        for key in ("name", "action"):
            if (field := resource.get(key)) is not None and not isinstance(field, str):
                refuse(f"{name}.{key}", "format", f"{key} must be a string or null")
        for key in RESOURCE_TIMESTAMPS:
            if (field := resource.get(key)) is not None and self.timestamps.of(field) is None:
                refuse(f"{name}.{key}", "format", f"{key} must be an RFC 3339 timestamp or null")
        for key in infos:
            info = resource[key]
            if not isinstance(info, dict):
                refuse(f"{name}.{key}", "format", f"{key} must be an object")
            elif (problem := _json_problem(info, depth=3)) is not None:  # in a list in an event
                refuse(f"{name}.{key}", "constraint", f"{key} is {problem}")

    def _check_recorded_at(self, value: Any, refuse: Refuse) -> datetime | None:
        if value is None:
            return None
        moment = self.timestamps.of(value)
        recorded_at = _in_utc(moment) if moment is not None else None
        if recorded_at is None:
            refuse("recorded_at", "format", "recorded_at must be an RFC 3339 timestamp with an offset")
        elif recorded_at > self.latest:
            refuse("recorded_at", "constraint", "recorded_at is in the future")
        elif recorded_at < EARLIEST:
            refuse("recorded_at", "constraint", "recorded_at is before 1970-01-01T00:00:00Z")
        return recorded_at

    def _check_project(self, value: Any, refuse: Refuse) -> uuid.UUID | None:
        if value is None:
            return None
        project_id = self.ids.of(value)
        if project_id is None:
            refuse("project_id", "format", "project_id must be a UUID")
        elif project_id not in self.projects:
            refuse("project_id", "constraint", "project_id is not a project of this organization")
        return project_id

    def _check_principal(self, value: Any, refuse: Refuse) -> tuple[uuid.UUID, str | None, str | None] | None:
        """(id, type, name) as sent, type and name None when left out; None when there is none."""
        if value is None:
            return None
        if not isinstance(value, dict) or not value.keys() <= PRINCIPAL_FIELDS:
            refuse("principal", "format", 'principal is {"id": "<uuid>"} (optionally "type" and "name")')
            return None
        principal_id = self.ids.of(value.get("id"))
        if principal_id is None:
            refuse("principal.id", "format", "principal.id must be a UUID")
            return None
        kind = value.get("type")
        if kind is not None and kind not in (PrincipalType.USER, PrincipalType.APPLICATION):
            refuse("principal.type", "constraint", "principal.type is user or application")
            return None
        name = value.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            refuse("principal.name", "constraint", "principal.name is a string of at most 200 characters")
            return None
        return principal_id, kind, name

    def _check_request_body(self, value: Any, refuse: Refuse) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            refuse("request_body", "format", "request_body must be a JSON object")
            return None
        if (problem := _json_problem(value)) is not None:
            refuse("request_body", "constraint", f"request_body is {problem}")
        elif self.check_body_size and len(orjson.dumps(value)) > MAX_REQUEST_BODY_BYTES:
            refuse("request_body", "constraint", f"request_body is at most {MAX_REQUEST_BODY_BYTES} bytes")
        return value

    def _stored_principal(
        self, sent: tuple[uuid.UUID, str | None, str | None] | None
    ) -> tuple[uuid.UUID | None, str, str]:
        """(id, type, name) to store: what the producer sent, completed from what we know of the
        id (a user unless it is one of the organization's applications)."""
        if sent is None:
            return None, PrincipalType.ANONYMOUS, ""
        principal_id, kind, name = sent
        known_kind, known_name = self.principals.get(principal_id, (PrincipalType.USER, ""))
        return principal_id, kind or known_kind, known_name if name is None else name


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
    validator.look_up(items)
    return [event_from_row(row) for row in validator.rows(items, offset=offset)]


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
    keys = [(organization.pk, pk) for pk in validator.look_up(items)]
    # Every item is validated, whatever the keys: record_many draws every row from the stream.
    created = record_many(validator.rows(items, offset=offset), keys=keys)
    return IngestResult(received=len(items), created=len(created))


def ingest_payload(raw: bytes, *, organization: Organization, ndjson: bool = False) -> IngestResult:
    """Parse, validate and store a request body (see `parse_payload`)."""
    return ingest_events(
        parse_payload(raw, ndjson=ndjson),
        organization=organization,
        payload_size=len(raw),
        payload_has_nul=b"\\u0000" in raw,
    )
