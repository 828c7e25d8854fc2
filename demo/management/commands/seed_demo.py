"""`manage.py seed_demo`: load the demo organizations and their events (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.alerting import seed_alerts
from demo.seed import DEFAULT_DAYS, DEFAULT_EVENTS, demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo organizations Acme and Globex with their people, projects and IAM objects, "
        "then record --events events over the last --days days. Running it again changes nothing "
        "unless --force (which appends another batch of events)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events",
            type=int,
            default=DEFAULT_EVENTS,
            help=f"Events to record (default {DEFAULT_EVENTS:,}).",
        )
        parser.add_argument(
            "--days", type=int, default=DEFAULT_DAYS, help=f"Days they spread over (default {DEFAULT_DAYS})."
        )
        parser.add_argument(
            "--force", action="store_true", help="Record events even if Acme already has some."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for a reproducible demo.")

    def handle(
        self, *args: Any, events: int, days: int, force: bool, seed: int | None, **options: Any
    ) -> None:
        try:
            result = demo_seed(events=events, days=days, force=force, seed=seed)
        except ValueError as error:
            raise CommandError(str(error)) from error

        if result.skipped:
            self.stdout.write("Demo already loaded: Acme has events (use --force to add more).")
        elif result.events:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Recorded {result.events:,} events over {days} days in {result.seconds:.1f} s "
                    f"({result.rate:,.0f} events/s)."
                )
            )
        if result.sign_ins:
            self.stdout.write(f"Recorded {result.sign_ins:,} console sign-ins (authentication events).")
        # Only on the first load: later events (--force) are evaluated as they are recorded,
        # because the rules are active by then.
        if result.events and not force:
            alerts = len(seed_alerts(result.world.acme))
            self.stdout.write(f"Alerting on in fr-par for Acme: {alerts} alert(s) fired.")
        if result.world.api_key:
            access_key, secret = result.world.api_key
            self.stdout.write(
                "API key of the siem-exporter application (AuditTrailReadOnly), shown once:\n"
                f"  access key {access_key}\n  secret key {secret}"
            )
        self.stdout.write("\nDemo logins (http://127.0.0.1:8000/login/):")
        width = max(len(login.email) for login in result.logins)
        for login in result.logins:
            self.stdout.write(f"  {login.email:<{width}}  {login.password}  {login.role}")
