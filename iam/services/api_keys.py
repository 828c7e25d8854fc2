"""API keys: created for a user or an application, shown once, stored as a hash."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction

from audit.services import Actor
from core.time import iso
from iam.models import APIKey, Application, Organization, Project, User, hash_secret
from iam.permissions import may_create_api_key_for
from iam.services._audit import api_key_resource, delete_and_record, iam_record
from iam.services._common import IamPermissionDenied


@transaction.atomic
def api_key_create(
    *,
    actor: Actor,
    organization: Organization,
    user: User | None = None,
    application: Application | None = None,
    description: str = "",
    default_project: Project | None = None,
    expires_at: datetime | None = None,
) -> tuple[APIKey, str]:
    """Create an API key for a user or an application. Returns the key and its secret.

    The secret (a UUID) is returned here once and never stored: only its SHA-256 is kept.
    Raises IamPermissionDenied for a bearer the actor may not create a key for (another user:
    see `may_create_api_key_for`), whether the console, the API or anything else asks.
    """
    bearer = user if user is not None else application
    if bearer is None or (user is not None and application is not None):
        raise ValueError("An API key has exactly one bearer: a user or an application.")
    if application is not None and application.organization_id != organization.pk:
        raise ValueError("The application belongs to another organization.")
    if default_project is not None and default_project.organization_id != organization.pk:
        raise ValueError("The default project belongs to another organization.")
    if not may_create_api_key_for(actor, organization, bearer):
        raise IamPermissionDenied("An API key can be created for yourself or an application only.")
    secret_key = str(uuid.uuid4())
    key = APIKey.objects.create(
        secret_key_hash=hash_secret(secret_key),
        organization=organization,
        user=user,
        application=application,
        description=description,
        default_project=default_project,
        expires_at=expires_at,
        creation_ip=actor.source_ip,
    )
    body: dict[str, Any] = {"description": description}
    body["user_id" if user else "application_id"] = str(key.bearer_id)
    if default_project:
        body["default_project_id"] = str(default_project.pk)
    if expires_at:
        body["expires_at"] = iso(expires_at, timespec="auto")
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateAPIKey",
        resources=[api_key_resource(key)],
        request_body=body,
    )
    return key, secret_key


@transaction.atomic
def api_key_update(
    *,
    actor: Actor,
    key: APIKey,
    description: str | None = None,
    default_project: Project | None = None,
    expires_at: datetime | None = None,
) -> APIKey:
    """Change what is given of a key's description, default project and expiry (UpdateAPIKey).

    The secret never changes. Raises ValueError for a project of another organization."""
    body: dict[str, Any] = {"access_key": key.access_key}
    if description is not None:
        key.description = description
        body["description"] = description
    if default_project is not None:
        if default_project.organization_id != key.organization_id:
            raise ValueError("The default project belongs to another organization.")
        key.default_project = default_project
        body["default_project_id"] = str(default_project.pk)
    if expires_at is not None:
        key.expires_at = expires_at
        body["expires_at"] = iso(expires_at, timespec="auto")
    key.save()
    iam_record(
        actor=actor,
        organization=key.organization,
        method_name="UpdateAPIKey",
        resources=[api_key_resource(key)],
        request_body=body,
    )
    return key


@transaction.atomic
def api_key_delete(*, actor: Actor, key: APIKey) -> None:
    """Delete an API key; its later use fails authentication."""
    delete_and_record(
        key,
        actor=actor,
        organization=key.organization,
        method_name="DeleteAPIKey",
        resource_of=api_key_resource,
        id_field="access_key",
    )


def api_key_authenticate(secret_key: str) -> APIKey | None:
    """The usable (unexpired) key whose secret this is, with its bearer and organization. One query."""
    try:
        uuid.UUID(secret_key)
    except (ValueError, AttributeError, TypeError):
        return None
    return (
        APIKey.objects.usable()
        .select_related("organization", "user", "application")
        .filter(secret_key_hash=hash_secret(secret_key))
        .first()
    )
