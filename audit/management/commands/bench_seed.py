"""`manage.py bench_seed`: how fast the demo generator fills the trail through `record_many`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from audit.demo import demo_seed


class Command(BaseCommand):
    help = (
        "Generate --events demo events and append them with record_many, then report the rate. "
        "Everything happens in one transaction that is rolled back unless --keep, so benches can repeat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=100_000, help="Events to record (default 100,000).")
        parser.add_argument("--days", type=int, default=60, help="Days they spread over (default 60).")
        parser.add_argument("--keep", action="store_true", help="Commit the events instead of rolling back.")

    def handle(self, *args: Any, events: int, days: int, keep: bool, **options: Any) -> None:
        if events < 1:
            raise CommandError("--events must be 1 or more.")
        with transaction.atomic():
            try:
                result = demo_seed(events=events, days=days, force=True, seed=1)
            except ValueError as error:
                raise CommandError(str(error)) from error
            transaction.set_rollback(not keep)
        self.stdout.write(
            f"{connection.vendor}: {result.events:,} events (generated and recorded through record_many) "
            f"in {result.seconds:.1f} s = {result.rate:,.0f} events/s" + ("." if keep else " (rolled back).")
        )
