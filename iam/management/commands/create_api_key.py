"""manage.py create_api_key: bootstrap a first API key without the console.

Everything it creates (the application, the policy, the key) is audited with the platform
("Scaleway") as principal, like any other IAM change.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from audit.services import Actor
from iam.models import Application, Membership, Organization, Policy, Rule, User
from iam.permission_sets import CATALOGUE
from iam.services import api_key_create, iam_record


def organization_by_id_or_name(value: str) -> Organization:
    try:
        return Organization.objects.get(pk=uuid.UUID(value))
    except (ValueError, Organization.DoesNotExist):
        pass
    try:
        return Organization.objects.get(name=value)
    except Organization.DoesNotExist:
        raise CommandError(f"No organization with id or name {value!r}.") from None
    except Organization.MultipleObjectsReturned:
        raise CommandError(f"Several organizations are named {value!r}: give its id.") from None


class Command(BaseCommand):
    help = (
        "Create an API key for EMAIL (a member of ORG), or for the application NAME of ORG, created "
        "if needed; optionally grant it permission sets at organization scope. Prints the access "
        "key and the secret key (shown only once)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="A member (or the owner) of the organization")
        parser.add_argument("--org", required=True, help="Organization id or exact name")
        parser.add_argument(
            "--application", metavar="NAME", help="Make the key an application's, not the user's"
        )
        parser.add_argument(
            "--permission-set",
            dest="permission_sets",
            action="append",
            default=[],
            metavar="NAME",
            help="Grant this permission set to the key's bearer (repeatable), e.g. AuditTrailEventsWriter",
        )
        parser.add_argument("--description", default="", help="The key's description")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_by_id_or_name(options["org"])
        user = User.objects.filter(email__iexact=options["email"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user with e-mail {options['email']!r}.")
        if organization.owner_id != user.pk and not (
            Membership.objects.active().filter(organization=organization, user=user).exists()
        ):
            raise CommandError(f"{user.email} is not a member of {organization.name}.")
        unknown = [name for name in options["permission_sets"] if name not in CATALOGUE]
        if unknown:
            raise CommandError(
                f"Unknown permission set(s): {', '.join(unknown)}. Known: {', '.join(CATALOGUE)}."
            )
        if len(options["description"]) > 200:
            raise CommandError("The description is at most 200 characters.")
        key, secret = bootstrap_api_key(
            organization=organization,
            user=user,
            application_name=options["application"],
            permission_sets=options["permission_sets"],
            description=options["description"],
        )
        self.stdout.write(f"Access key: {key.access_key}")
        self.stdout.write(f"Secret key: {secret}")
        self.stdout.write(f"Bearer: {key.bearer_type} {key.bearer} ({key.bearer_id}) in {organization.name}")


@transaction.atomic
def bootstrap_api_key(
    *,
    organization: Organization,
    user: User,
    application_name: str | None,
    permission_sets: list[str],
    description: str,
) -> tuple[Any, str]:
    """The application (if named) and a policy (if permission sets are given), then the key."""
    actor = Actor.system()
    application = None
    if application_name:
        application = Application.objects.filter(organization=organization, name=application_name).first()
        if application is None:
            application = Application.objects.create(organization=organization, name=application_name[:64])
            iam_record(
                actor=actor,
                organization=organization,
                method_name="CreateApplication",
                resources=[{"id": str(application.pk), "type": "iam_application", "name": application.name}],
                request_body={"name": application.name, "organization_id": str(organization.pk)},
            )
    bearer = application or user
    if permission_sets:
        principal = {"application": application} if application else {"user": user}
        policy = Policy.objects.create(
            organization=organization,
            name=f"bootstrap-{bearer}"[:64],
            description="Created by manage.py create_api_key",
            **principal,
        )
        Rule.objects.create(policy=policy, permission_set_names=list(dict.fromkeys(permission_sets)))
        iam_record(
            actor=actor,
            organization=organization,
            method_name="CreatePolicy",
            resources=[{"id": str(policy.pk), "type": "iam_policy", "name": policy.name}],
            request_body={
                "name": policy.name,
                "organization_id": str(organization.pk),
                f"{'application' if application else 'user'}_id": str(bearer.pk),
                "rules": [{"permission_set_names": permission_sets, "organization_id": str(organization.pk)}],
            },
        )
    return api_key_create(
        actor=actor,
        organization=organization,
        user=None if application else user,
        application=application,
        description=description,
    )
