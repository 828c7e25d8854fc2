from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from iam.models import Organization, User
from integrity.retention import set_legal_hold


class Command(BaseCommand):
    help = (
        "Set or lift an organization's legal hold, which blocks every retention purge of its events. "
        "The change is recorded in the organization's trail, with the user named by --by."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="The organization's id.")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--set", action="store_true", help="Place the hold.")
        action.add_argument("--lift", action="store_true", help="Lift the hold.")
        parser.add_argument("--by", required=True, help="The e-mail of the user who decided it.")
        parser.add_argument("--reason", default="", help="Why (kept in the trail).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = Organization.objects.get(pk=options["org"])
        except (Organization.DoesNotExist, ValueError) as error:
            raise CommandError(f"No organization {options['org']}.") from error
        user = User.objects.filter(email__iexact=options["by"]).first()
        if user is None:
            raise CommandError(f"No user {options['by']}.")
        policy = set_legal_hold(
            organization.pk, hold=options["set"], actor=Actor.of(user), reason=options["reason"]
        )
        state = "under legal hold" if policy.legal_hold else "not under legal hold"
        self.stdout.write(f"{organization.pk} ({organization.name}): {state}")
