"""The HTTP toolkit every API view shares: Scaleway's wire conventions in one place.

- Authentication by `X-Auth-Token: <secret key>` (reference §1); no sessions, no CSRF.
- Errors are JSON in Scaleway's shapes: `invalid_arguments` (with `details`), `not_found`,
  `permissions_denied`, `denied_authentication`, and `too_many_requests` with `Retry-After`.
- Query parameters as real clients send them (§6.3): dates with `T` or a space, `Z` or an offset;
  booleans `true`/`True`/`1`; `unknown_*` enum values and empty strings mean "no filter".
- A refused call is recorded in the trail as a 403 event, like a refusal in the console.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.request import RawPostDataException
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found

from audit.selectors import EARLIEST, LATEST
from audit.services import record_refusal
from core.time import iso
from iam import throttle
from iam.http import ApiRequest
from iam.permissions import has_permission
from iam.services import api_key_authenticate

View = Callable[..., HttpResponse]


# --- errors ------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: `status` and the JSON body (always with `message` and `type`)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def invalid_arguments(details: list[dict[str, str]]) -> ApiError:
    return ApiError(400, {"message": "invalid argument(s)", "type": "invalid_arguments", "details": details})


def argument_error(name: str, reason: str, help_message: str) -> dict[str, str]:
    """One `invalid_arguments` detail; reason is unknown, required, format or constraint."""
    return {"argument_name": name, "reason": reason, "help_message": help_message}


def not_found(resource: str, resource_id: str) -> ApiError:
    return ApiError(
        404,
        {
            "message": "resource is not found",
            "type": "not_found",
            "resource": resource,
            "resource_id": str(resource_id)[:200],
        },
    )


def permissions_denied(action: str) -> ApiError:
    resource, _, verb = action.partition(":")
    return ApiError(
        403,
        {
            "message": "insufficient permissions",
            "type": "permissions_denied",
            "details": [{"resource": resource, "action": verb}],
        },
    )


def denied_authentication(reason: str) -> ApiError:
    return ApiError(
        401,
        {
            "message": "authentication is denied",
            "method": "api_key",
            "reason": reason,
            "type": "denied_authentication",
        },
    )


def retry_later(status: int, kind: str, message: str, retry_after: int) -> ApiError:
    """A refusal that passes with time (429, 503): its `retry_after` in the body and the header."""
    return ApiError(
        status,
        {"message": message, "type": kind, "retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def too_many_requests(*, quota: int, window_seconds: int, reset_at: datetime) -> ApiError:
    """429 in Scaleway's `too_many_requests` shape, which the SDKs parse (the JavaScript one into
    its TooManyRequestsError, which needs `help_message`): the quota and its window, and when it
    resets, in seconds from now and as an instant. `Retry-After` and `retry_after` say the same."""
    reset_seconds = max(1, math.ceil((reset_at - datetime.now(UTC)).total_seconds()))
    error = retry_later(
        429,
        "too_many_requests",
        f"rate limit exceeded: {quota} requests per {window_seconds} s, retry in {reset_seconds} s",
        reset_seconds,
    )
    error.body.update(
        {
            "help_message": f"This API key may make {quota} requests every {window_seconds} s; "
            f"wait {reset_seconds} s (Retry-After) before sending more.",
            "limit": {"quota": quota, "window_seconds": window_seconds},
            "reset_seconds": reset_seconds,
            "reset_at": iso(reset_at, timespec="seconds"),
        }
    )
    return error


def service_unavailable(reason: str, retry_after: int) -> ApiError:
    """503: the database cannot answer now (read-only, locked, timed out, down). Retry later."""
    return retry_later(
        503,
        "service_unavailable",
        f"the service is temporarily unavailable ({reason}), retry in {retry_after} s",
        retry_after,
    )


API_PREFIXES = ("/audit-trail/v1alpha1/", "/iam/v1alpha1/", "/x/")


def not_found_handler(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: unknown API paths (a trailing slash included) answer JSON, the console HTML."""
    if request.path.startswith(API_PREFIXES):
        return JsonResponse(
            {"message": f"no such API route: {request.method} {request.path}", "type": "not_found"},
            status=404,
        )
    return page_not_found(request, exception)


# --- wire formats ------------------------------------------------------------------------------


TRAIL_BODY_LIMIT = 64 * 1024
# Booleans as Go's strconv.ParseBool reads them, which is what Scaleway's gateway accepts: Python's
# SDK sends `True`, Go's `true`.
TRUE = frozenset({"1", "t", "T", "true", "True", "TRUE"})
FALSE = frozenset({"0", "f", "F", "false", "False", "FALSE"})
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
INTEGER_RE = re.compile(r"^[+-]?[0-9]{1,20}$")
# RFC 3339, plus what clients really send (reference §1): a space for the `T` (Python's str(datetime)),
# no offset (read as UTC), no seconds, an offset without its colon, any number of fraction digits.
DATETIME_RE = re.compile(
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]+))?)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<offset_hours>[0-9]{2})(?::?(?P<offset_minutes>[0-9]{2}))?)?$"
)
DATETIME_MAX_LENGTH = 64


def parse_timestamp(value: str) -> datetime | None:
    """An aware UTC datetime, or None if `value` is not a timestamp (see DATETIME_RE).

    Any offset RFC 3339 allows (up to ±23:59) is applied here, so PostgreSQL (which stores at most
    ±15:59) never sees it; instants before year 1 or after 9999 in UTC clamp to EARLIEST/LATEST.
    A leap second (:60) reads as the last instant of its minute.
    """
    found = DATETIME_RE.fullmatch(value)
    if found is None:
        return None
    second = int(found["second"] or 0)
    microsecond = int((found["fraction"] or "0")[:6].ljust(6, "0"))
    if second == 60:
        second, microsecond = 59, 999_999
    date = found["date"]
    # RFC 3339 has a year 0 (a leap year), which `datetime` lacks: read it as year 4, four years on.
    shift = timedelta(days=1461) if date.startswith("0000-") else timedelta()
    try:
        local = datetime.fromisoformat("0004" + date[4:] if shift else date).replace(
            hour=int(found["hour"]), minute=int(found["minute"]), second=second, microsecond=microsecond
        )
    except ValueError:  # 2026-02-30, 25:00 ...
        return None
    offset = timedelta()
    if found["sign"]:
        hours, minutes = int(found["offset_hours"]), int(found["offset_minutes"] or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if found["sign"] == "-" else 1)
    try:
        return (local - offset - shift).replace(tzinfo=UTC)
    except OverflowError:
        return EARLIEST if shift or offset > timedelta() else LATEST


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def is_text(value: str) -> bool:
    """No NUL (PostgreSQL text and jsonb refuse it) and no lone surrogate (not encodable)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Params:
    """Typed access to query parameters (or a JSON body) that collects every error, then raises.

    Each accessor returns None for an absent value, which every endpoint reads as "no filter".
    In a query, an empty value is absent (Go clients send `organization_id=`), and a value given
    twice is refused. In a JSON body, `null` is absent (as protobuf's JSON mapping reads it), and
    so is an empty string for ids and timestamps; enums, which clients always send as strings,
    must be one of their values. Call `check()` once all parameters are read.
    """

    def __init__(self, data: Any, *, prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        self.errors: list[dict[str, str]] = []
        # A QueryDict holds strings only; a JSON body holds typed values.
        self.query = isinstance(data, QueryDict)

    def _raw(self, name: str) -> Any:
        if not self.query:
            return self.data.get(name)
        values = self.data.getlist(name)
        if len(values) > 1:
            self.error(name, "format", f"{name} must be given once")
            return None
        return values[0] if values and values[0] != "" else None

    def error(self, name: str, reason: str, help_message: str) -> None:
        self.errors.append(argument_error(self.prefix + name, reason, help_message))

    def _required(self, name: str, required: bool) -> None:
        if required:
            self.error(name, "required", f"{name} is required")

    def string(
        self, name: str, *, max_length: int = 200, required: bool = False, single_line: bool = False
    ) -> str | None:
        """The value without surrounding spaces; a blank one is absent. `single_line` also refuses
        control characters (a name that ends up in an e-mail subject or a log line)."""
        raw = self._raw(name)
        value: str | None = None
        if raw is not None:
            if not isinstance(raw, str):
                self.error(name, "format", f"{name} must be a string")
                return None
            value = raw
            if len(value) > max_length:
                self.error(name, "constraint", f"{name} must be at most {max_length} characters")
                return None
            if not is_text(value) or (single_line and CONTROL_RE.search(value)):
                self.error(name, "format", f"{name} must not contain control characters")
                return None
            value = value.strip()
        if not value:
            self._required(name, required)
            return None
        return value

    def uuid(self, name: str, *, required: bool = False) -> uuid.UUID | None:
        """A UUID in its canonical 8-4-4-4-12 spelling, as every client sends it."""
        value = self._raw(name)
        if value is None or value == "":
            self._required(name, required)
            return None
        if not isinstance(value, str) or not UUID_RE.fullmatch(value):
            self.error(name, "format", f"{name} must be a UUID")
            return None
        return uuid.UUID(value)

    def datetime(self, name: str, *, required: bool = False) -> datetime | None:
        """A timestamp (see `parse_timestamp`), in UTC."""
        value = self._raw(name)
        if value is None or value == "":
            self._required(name, required)
            return None
        parsed = None
        if isinstance(value, str) and len(value) <= DATETIME_MAX_LENGTH:
            parsed = parse_timestamp(value)
        if parsed is None:
            self.error(name, "format", f"{name} must be an RFC 3339 timestamp")
        return parsed

    def integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        """Digits in a query; in a JSON body a number without a fractional part (`3` or `3.0`)."""
        value = self._raw(name)
        if value is None:
            return None
        number: int | None = None
        if self.query:
            number = int(value) if INTEGER_RE.fullmatch(value) else None
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if number is None:
            self.error(name, "format", f"{name} must be an integer")
            return None
        if not minimum <= number <= maximum:
            self.error(name, "constraint", f"{name} must be between {minimum} and {maximum}")
            return None
        return number

    def boolean(self, name: str) -> bool | None:
        value = self._raw(name)
        if value is None or (not self.query and isinstance(value, bool)):
            return value
        if self.query and value in TRUE:
            return True
        if self.query and value in FALSE:
            return False
        self.error(name, "format", f"{name} must be true or false")
        return None

    def enum(
        self, name: str, choices: Iterable[str], *, unknown: str | None = None, default: str | None = None
    ) -> str | None:
        """One of `choices`. `unknown` is the enum's proto default (`unknown_status`...), which Go
        clients always send: it means unset, like an absent value."""
        if self.query:
            value = self._raw(name)
            if value is None:
                return default
        elif name not in self.data:
            return default
        else:
            value = self.data[name]
        if unknown is not None and value == unknown:
            return default
        allowed = list(choices)
        if not isinstance(value, str) or value not in allowed:
            spelled = [unknown, *allowed] if unknown else allowed
            self.error(name, "constraint", f"{name} must be one of: {', '.join(spelled)}")
            return default
        return value

    def check(self) -> None:
        if self.errors:
            raise invalid_arguments(self.errors)


# --- authentication, authorization, rate limits ------------------------------------------------


def authenticate(request: HttpRequest) -> None:
    """Resolve `X-Auth-Token` to an API key; set request.api_key/.principal/.organization."""
    token = request.headers.get("X-Auth-Token", "").strip()
    if not token:
        raise denied_authentication("invalid_argument")
    try:
        uuid.UUID(token)
    except ValueError:
        raise denied_authentication("invalid_argument") from None
    key = api_key_authenticate(token)
    if key is None:
        raise denied_authentication("not_found")
    request.api_key = key  # type: ignore[attr-defined]
    request.principal = key.bearer  # type: ignore[attr-defined]
    request.organization = key.organization  # type: ignore[attr-defined]


def rate_limit(request: ApiRequest) -> None:
    """A fixed window per API key in the shared cache: API_RATE_LIMIT requests per window,
    counted before the call runs, so that every process together lets exactly that many through."""
    limit, window = settings.API_RATE_LIMIT, settings.API_RATE_LIMIT_WINDOW
    if not limit:
        return
    now = int(time.time())
    slot = now // window
    count = throttle.hit(f"api-rate:{request.api_key.access_key}:{slot}", window=window + 1)
    if count > limit:
        raise too_many_requests(
            quota=limit, window_seconds=window, reset_at=datetime.fromtimestamp((slot + 1) * window, UTC)
        )


def request_body_for_trail(request: HttpRequest) -> dict[str, Any]:
    """What the refused request asked for: its query, or its JSON object body (the door redacts it)."""
    if request.method in ("GET", "DELETE"):
        return cast(dict[str, Any], without_nul(dict(request.GET.items())))
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > TRAIL_BODY_LIMIT:
            return {}  # e.g. an ingestion batch: the trail keeps the refusal, not the payload
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RawPostDataException):
        return {}
    return without_nul(body) if isinstance(body, dict) else {}


def without_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb refuse NUL characters and lone surrogates (which JSON's `\\ud800`
    escapes can carry): drop the first and replace the second in what the trail keeps."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def authorize(
    request: ApiRequest,
    action: str,
    *,
    method: str,
    locality: str,
    resources: list[dict[str, Any]] | None = None,
) -> None:
    """Raise `permissions_denied` (and record a 403 event) unless the key's bearer may `action`.

    The same `has_permission` as the console, so the two always agree.
    """
    if has_permission(request.principal, request.organization, action):
        return
    deny(request, action, method=method, locality=locality, resources=resources)
    raise permissions_denied(action)


def deny(
    request: ApiRequest,
    action: str,
    *,
    method: str,
    locality: str,
    resources: list[dict[str, Any]] | None = None,
) -> None:
    """Record a refused API call as a 403 event in the caller's organization, with its body."""
    record_refusal(
        request,
        action=action,
        method_name=method,
        locality=locality,
        resources=without_nul(resources or []),  # ids come from the path, which may hold anything
        request_body=request_body_for_trail(request),
    )


def check_organization(
    request: ApiRequest, params: Params, *, action: str, method: str, locality: str
) -> None:
    """`organization_id` is optional (empty = the key's); another organization is refused."""
    organization_id = params.uuid("organization_id")
    params.check()
    if organization_id is not None and organization_id != request.organization.pk:
        deny(request, action, method=method, locality=locality)
        raise permissions_denied(action)


def read_json(request: HttpRequest) -> Any:
    """The JSON body; `{}` when there is none, as Scaleway's gateway reads a missing body.
    Raises invalid_arguments on malformed JSON."""
    raw = request.body
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid_arguments([argument_error("body", "format", "the body must be JSON")]) from None


def api_view(*methods: str) -> Callable[[View], View]:
    """Wrap an API view: method check, X-Auth-Token, rate limit, and JSON errors.

    Views raise `ApiError`; anything they return is passed through.
    """
    allowed = set(methods)

    def decorator(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                response = JsonResponse(
                    {"message": f"method {request.method} is not allowed", "type": "method_not_allowed"},
                    status=405,
                )
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            try:
                authenticate(request)
                rate_limit(request)  # type: ignore[arg-type]
                return view(request, *args, **kwargs)
            except ApiError as error:
                return error.response()

        return wrapper

    return decorator
