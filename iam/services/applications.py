"""Applications: non-human principals that hold API keys and policies."""

from __future__ import annotations

from django.db import transaction

from audit.services import Actor
from iam.models import Application, Organization
from iam.services._audit import application_resource, delete_and_record, iam_record


@transaction.atomic
def application_create(
    *, actor: Actor, organization: Organization, name: str, description: str = ""
) -> Application:
    application = Application.objects.create(organization=organization, name=name, description=description)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateApplication",
        resources=[application_resource(application)],
        request_body={"name": name, "description": description, "organization_id": str(organization.pk)},
    )
    return application


@transaction.atomic
def application_update(
    *, actor: Actor, application: Application, name: str, description: str = ""
) -> Application:
    application.name = name
    application.description = description
    application.save(update_fields=["name", "description", "updated_at"])
    iam_record(
        actor=actor,
        organization=application.organization,
        method_name="UpdateApplication",
        resources=[application_resource(application)],
        request_body={"application_id": str(application.pk), "name": name, "description": description},
    )
    return application


@transaction.atomic
def application_delete(*, actor: Actor, application: Application) -> None:
    """Delete an application, its API keys and its policies."""
    delete_and_record(
        application,
        actor=actor,
        organization=application.organization,
        method_name="DeleteApplication",
        resource_of=application_resource,
        id_field="application_id",
    )
