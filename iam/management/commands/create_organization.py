from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.models import User
from iam.services import organization_create


class Command(BaseCommand):
    help = "Create an organization, owned by an existing user, with its three default groups (a platform action)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="The owner's e-mail address.")

    def handle(self, *args: Any, name: str, owner: str, **options: Any) -> None:
        user = User.objects.filter(email__iexact=owner).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {owner}.")
        organization = organization_create(name=name, owner=user)
        self.stdout.write(f"Created {organization.name} ({organization.pk}), owned by {user.email}.")
