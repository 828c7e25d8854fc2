from __future__ import annotations

import sys
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from iam.models import Organization
from integrity.verification import verify_organization


class Command(BaseCommand):
    help = (
        "Recompute every organization's Merkle tree from the stored events and check every signed "
        "head; report the first break and exit non-zero on any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", action="append", default=[], help="An organization id (repeatable).")

    def handle(self, *args: Any, **options: Any) -> None:
        organizations = Organization.objects.order_by("pk")
        if options["org"]:
            try:
                ids = [uuid.UUID(value) for value in options["org"]]
            except ValueError:
                raise CommandError(f"--org takes organization ids (UUIDs), not {options['org']!r}.") from None
            organizations = organizations.filter(pk__in=ids)
        broken = 0
        for organization in organizations.iterator():
            outcome = verify_organization(organization.pk, progress=self._progress)
            if outcome.ok:
                self.stdout.write(
                    f"{organization.pk} ({organization.name}): OK, {outcome.leaves:,} events under "
                    f"{outcome.heads:,} signed heads, in {outcome.seconds:.1f} s"
                    + (
                        f" ({outcome.purged:,} removed by retention, their leaves kept)"
                        if outcome.purged
                        else ""
                    )
                )
            else:
                broken += 1
                self.stdout.write(f"{organization.pk} ({organization.name}): BROKEN, {outcome.message}")
        if broken:
            raise CommandError(f"{broken} trail(s) failed verification.", returncode=1)

    def _progress(self, line: str) -> None:
        self.stderr.write(line)
        sys.stderr.flush()
