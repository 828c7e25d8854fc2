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
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import RawPostDataException
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found

from audit.services import record_refusal
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


def service_unavailable(reason: str, retry_after: int) -> ApiError:
    """503: the database cannot answer now (read-only, locked, timed out, down). Retry later."""
    return ApiError(
        503,
        {
            "message": f"the service is temporarily unavailable ({reason}), retry in {retry_after} s",
            "type": "service_unavailable",
            "retry_after": retry_after,
        },
        headers={"Retry-After": str(retry_after)},
    )


API_PREFIXES = ("/audit-trail/v1alpha1/", "/iam/v1alpha1/", "/x/")


def not_found_handler(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: unknown API paths (a trailing slash included) answer JSON, the console HTML."""
    if request.path.startswith(API_PREFIXES):
        return JsonResponse(
            {"message": f"no such API route: {request.method} {request.path}", "type": "not_found"},
            status=404,
        )
    return page_not_found(request, exception)  # type: ignore[arg-type]


# --- wire formats ------------------------------------------------------------------------------


TRAIL_BODY_LIMIT = 64 * 1024
TRUE = frozenset({"true", "1", "yes"})
FALSE = frozenset({"false", "0", "no"})


class Params:
    """Typed access to query parameters (or a JSON body) that collects every error, then raises.

    Each accessor returns None for an absent or empty value, which every endpoint reads as
    "no filter". Call `check()` once all parameters are read.
    """

    def __init__(self, data: Any, *, prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        self.errors: list[dict[str, str]] = []

    def _raw(self, name: str) -> Any:
        value = self.data.get(name)
        if isinstance(value, str):
            value = value.strip()
        return None if value in (None, "") else value

    def error(self, name: str, reason: str, help_message: str) -> None:
        self.errors.append(argument_error(self.prefix + name, reason, help_message))

    def string(self, name: str, *, max_length: int = 200, required: bool = False) -> str | None:
        value = self._raw(name)
        if value is None:
            if required:
                self.error(name, "required", f"{name} is required")
            return None
        if not isinstance(value, str):
            self.error(name, "format", f"{name} must be a string")
            return None
        if len(value) > max_length or "\x00" in value:
            self.error(name, "constraint", f"{name} must be at most {max_length} characters")
            return None
        return value

    def uuid(self, name: str, *, required: bool = False) -> uuid.UUID | None:
        value = self.string(name, required=required)
        if value is None:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            self.error(name, "format", f"{name} must be a UUID")
            return None

    def datetime(self, name: str, *, required: bool = False) -> datetime | None:
        """RFC 3339, with `T` or a space, `Z` or an offset (naive means UTC)."""
        value = self.string(name, max_length=64, required=required)
        if value is None:
            return None
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            self.error(name, "format", f"{name} must be an RFC 3339 timestamp")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            self.error(name, "constraint", f"{name} is out of range")
            return None
        return parsed

    def integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        value = self._raw(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.error(name, "format", f"{name} must be an integer")
            return None
        try:
            number = int(value)
        except ValueError:
            self.error(name, "format", f"{name} must be an integer")
            return None
        if not minimum <= number <= maximum:
            self.error(name, "constraint", f"{name} must be between {minimum} and {maximum}")
            return None
        return number

    def boolean(self, name: str) -> bool | None:
        value = self._raw(name)
        if value is None or isinstance(value, bool):
            return value
        lowered = str(value).lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        self.error(name, "format", f"{name} must be true or false")
        return None

    def enum(self, name: str, choices: Iterable[str], *, default: str | None = None) -> str | None:
        """One of `choices`; `unknown_*` (the proto default Go clients always send) means unset."""
        value = self.string(name, max_length=64)
        if value is None or value.startswith("unknown_"):
            return default
        allowed = list(choices)
        if value not in allowed:
            self.error(name, "constraint", f"{name} must be one of: {', '.join(allowed)}")
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
        retry_after = max(1, (slot + 1) * window - now)
        raise ApiError(
            429,
            {
                "message": f"rate limit exceeded: {limit} requests per {window} s, retry in {retry_after} s",
                "type": "too_many_requests",
                "retry_after": retry_after,
            },
            headers={"Retry-After": str(retry_after)},
        )


def request_body_for_trail(request: HttpRequest) -> dict[str, Any]:
    """What the refused request asked for: its query, or its JSON object body (the door redacts it)."""
    if request.method in ("GET", "DELETE"):
        return without_nul(dict(request.GET.items()))
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > TRAIL_BODY_LIMIT:
            return {}  # e.g. an ingestion batch: the trail keeps the refusal, not the payload
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RawPostDataException):
        return {}
    return without_nul(body) if isinstance(body, dict) else {}


def without_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb refuse NUL characters: drop them from what the trail keeps."""
    if isinstance(value, str):
        return value.replace("\x00", "")
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
        resources=resources or [],
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
    """The JSON body, or None when empty. Raises invalid_arguments on malformed JSON."""
    raw = request.body
    if not raw.strip():
        return None
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
