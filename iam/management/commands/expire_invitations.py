from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from iam.services import invitations_expire


class Command(BaseCommand):
    help = "Close the pending invitations past their expiry and delete the accounts made only for them."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{invitations_expire()} invitation(s) expired.")
