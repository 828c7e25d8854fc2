"""`manage.py seed_demo`: load the demo organizations and their events into an empty database."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.alerting import seed_alerts
from demo.seed import DEFAULT_DAYS, DEFAULT_EVENTS, LOGINS, demo_seed


class Command(BaseCommand):
    help = (
        "Load the demo into an empty database: the organizations Acme and Globex with their people, "
        "projects and IAM objects, then --events events over the last --days days. A database that "
        "holds any user or organization is left untouched (exit status 0), so `make run` can call "
        "this at every start. --force appends --events events to the demo as it stands, and fails "
        "(exit status 1) if the demo is no longer whole; on a database without the demo, it loads "
        "the demo beside what is there."
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
            "--force",
            action="store_true",
            help="On a database in use: append --events events to the demo there, or load the demo "
            "beside what is there when it has none.",
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for a reproducible demo.")

    def handle(
        self, *args: Any, events: int, days: int, force: bool, seed: int | None, **options: Any
    ) -> None:
        started = time.perf_counter()
        try:
            result = demo_seed(events=events, days=days, force=force, seed=seed, progress=self._say)
        except ValueError as error:
            raise CommandError(str(error)) from error

        if result.skipped:
            held = " and ".join(
                f"{count:,} {what if count > 1 else what.removesuffix('s')}"
                for what, count in result.held.items()
            )
            if result.demo_there:
                self.stdout.write(f"Demo already loaded ({held}): nothing was written.")
                self._logins()
            else:
                self.stdout.write(
                    f"Demo not loaded: this database already holds {held}, and the demo loads only "
                    "into an empty one. Nothing was written."
                )
            return
        if result.events:
            self._say(
                self.style.SUCCESS(
                    f"Recorded {result.events:,} events over {days} days in {result.seconds:.1f} s "
                    f"({result.rate:,.0f} events/s)."
                )
            )
        if result.sign_ins:
            self._say(f"Recorded {result.sign_ins:,} console sign-ins (authentication events).")
        world = result.world
        assert world is not None  # a load that was not skipped has its world
        # Only on the first load: later events (--force) are evaluated as they are recorded,
        # because the rules are active by then.
        if result.events and result.loaded:
            alerts = len(seed_alerts(world.acme))
            self._say(f"Alerting on in fr-par for Acme: {alerts} alert(s) fired.")
        if world.api_key:
            access_key, secret = world.api_key
            self.stdout.write(
                "API key of the siem-exporter application (AuditTrailReadOnly), shown once:\n"
                f"  access key {access_key}\n  secret key {secret}"
            )
        if result.loaded:
            self.stdout.write(f"Demo loaded in {time.perf_counter() - started:.1f} s.")
        self._logins()

    def _say(self, line: str) -> None:
        """One line of progress, flushed at once so that a slow stage shows while it runs."""
        self.stdout.write(line)
        self.stdout.flush()

    def _logins(self) -> None:
        self.stdout.write(f"\nDemo logins ({settings.SITE_URL}/login/):")
        width = max(len(login.email) for login in LOGINS)
        for login in LOGINS:
            self.stdout.write(f"  {login.email:<{width}}  {login.password}  {login.role}")
