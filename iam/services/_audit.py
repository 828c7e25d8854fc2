"""How IAM writes appear in the trail: the event they record and the resources it names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Model
from django.utils import timezone

from audit.services import Actor, record
from core.time import iso
from iam.models import APIKey, Application, Group, Invitation, Organization, Policy, User

IAM_PRODUCT = "iam"
IAM_SERVICE = "scaleway.iam.v1alpha1.Api"


def iam_record(
    *,
    actor: Actor,
    organization: Organization,
    method_name: str,
    resources: list[dict[str, Any]] | None = None,
    request_body: dict[str, Any] | None = None,
    status_code: int = 200,
) -> None:
    """Record an IAM action: product `iam`, locality `global` (shown in fr-par)."""
    record(
        organization_id=organization.pk,
        actor=actor,
        product_name=IAM_PRODUCT,
        service_name=IAM_SERVICE,
        method_name=method_name,
        locality="global",
        status_code=status_code,
        resources=resources or [],
        request_body=request_body or {},
    )


def _resource(
    type_: str,
    id_: Any,
    name: str | None,
    *,
    created_at: datetime | None = None,
    deleted: bool = False,
    **info: Any,
) -> dict[str, Any]:
    now = iso(timezone.now(), timespec="auto")
    resource: dict[str, Any] = {
        "id": str(id_),
        "type": type_,
        "created_at": iso(created_at, timespec="auto"),
        "updated_at": now,
        "deleted_at": now if deleted else None,
        "name": name or None,
    }
    resource.update(info)
    return resource


def user_resource(user: User, *, deleted: bool = False) -> dict[str, Any]:
    return _resource(
        "iam_user",
        user.pk,
        user.email,
        created_at=user.date_joined,
        deleted=deleted,
        account_user_info={"email": user.email, "phone_number": None},
    )


def invitation_resource(invitation: Invitation, *, deleted: bool = False) -> dict[str, Any]:
    """The invited user as the inviting organization may know them: the address it typed, under
    the invitation's own id. Never the account's id or dates: an address that already has an
    account must look exactly like one that has none, or invitations would enumerate accounts."""
    return _resource(
        "iam_user",
        invitation.pk,
        invitation.email,
        created_at=invitation.created_at,
        deleted=deleted,
        account_user_info={"email": invitation.email, "phone_number": None},
    )


def application_resource(application: Application, *, deleted: bool = False) -> dict[str, Any]:
    return _resource(
        "iam_application",
        application.pk,
        application.name,
        created_at=application.created_at,
        deleted=deleted,
    )


def group_resource(group: Group, *, deleted: bool = False) -> dict[str, Any]:
    return _resource("iam_group", group.pk, group.name, created_at=group.created_at, deleted=deleted)


def policy_resource(policy: Policy, *, deleted: bool = False) -> dict[str, Any]:
    return _resource("iam_policy", policy.pk, policy.name, created_at=policy.created_at, deleted=deleted)


def delete_and_record(
    instance: Model,
    *,
    actor: Actor,
    organization: Organization,
    method_name: str,
    resource_of: Callable[..., dict[str, Any]],
    id_field: str,
) -> None:
    """Delete `instance` and record `method_name` (DeleteGroup, DeleteAPIKey…) in the trail.

    The resource is taken before the row goes, while it still has its id; the request body names
    that id under `id_field`, as the Scaleway API call would. One DELETE (plus cascades), one INSERT.
    """
    resource = resource_of(instance, deleted=True)
    instance.delete()
    iam_record(
        actor=actor,
        organization=organization,
        method_name=method_name,
        resources=[resource],
        request_body={id_field: resource["id"]},
    )


def api_key_resource(key: APIKey, *, deleted: bool = False) -> dict[str, Any]:
    now = iso(timezone.now(), timespec="auto")
    return {
        "id": key.access_key,
        "type": "iam_api_key",
        "created_at": iso(key.created_at, timespec="auto"),
        "updated_at": iso(key.updated_at, timespec="auto") or now,
        "deleted_at": now if deleted else None,
        "name": key.description or None,
    }
