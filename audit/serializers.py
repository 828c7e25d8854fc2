"""The trail's rows as on the wire (reference §3.1, §3.4, §3.5): what ListEvents answers and what the
console's drawer copies as JSON, so the two always show the same event."""

from __future__ import annotations

from typing import Any

from audit.models import AuthenticationEvent, Event, SystemEvent
from core.time import iso


def event_json(event: Event) -> dict[str, Any]:
    """An Event as on the wire (§3.1): unset one-of `principal` and `project_id` are omitted."""
    data: dict[str, Any] = {
        "id": str(event.id),
        "recorded_at": iso(event.recorded_at),
        "locality": event.locality,
        "organization_id": str(event.organization_id),
        "source_ip": event.source_ip or "",
        "user_agent": event.user_agent,
        "product_name": event.product_name,
        "service_name": event.service_name,
        "method_name": event.method_name,
        "resources": event.resources or [],
        "request_id": event.request_id,
        "request_body": event.request_body or {},
        "status_code": event.status_code,
    }
    if event.principal_id:
        data["principal"] = {"id": str(event.principal_id)}
    if event.project_id:
        data["project_id"] = str(event.project_id)
    return data


FAILURE_REASONS = {"invalid_password", "invalid_mfa"}


def authentication_event_json(event: AuthenticationEvent) -> dict[str, Any]:
    """An AuthenticationEvent as on the wire (§3.4); our extra failure reasons map to unknown."""
    data: dict[str, Any] = {
        "id": str(event.id),
        "recorded_at": iso(event.recorded_at),
        "organization_id": str(event.organization_id),
        "source_ip": event.source_ip or "",
        "user_agent": event.user_agent,
        "resources": (
            [{"id": str(event.user_id), "type": "iam_user", "name": event.email}] if event.user_id else []
        ),
        "result": event.result or "unknown_result",
        "method": event.method or "unknown_method",
        "origin": event.origin or "unknown_origin",
    }
    if event.failure_reason:
        data["failure_reason"] = (
            event.failure_reason if event.failure_reason in FAILURE_REASONS else "unknown_failure_reason"
        )
    if event.mfa_type:
        data["mfa_type"] = event.mfa_type if event.mfa_type == "totp" else "unknown_mfa_type"
    return data


def system_event_json(event: SystemEvent) -> dict[str, Any]:
    """A SystemEvent as on the wire (§3.5): an unset `project_id` is omitted."""
    data: dict[str, Any] = {
        "id": str(event.id),
        "recorded_at": iso(event.recorded_at),
        "locality": event.locality,
        "organization_id": str(event.organization_id),
        "product_name": event.product_name,
        "source": event.source,
        "system_name": event.system_name,
        "resources": event.resources or [],
        "kind": event.kind or "unknown_kind",
    }
    if event.project_id:
        data["project_id"] = str(event.project_id)
    return data
