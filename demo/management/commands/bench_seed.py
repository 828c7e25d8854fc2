"""`manage.py bench_seed`: how fast the demo generator fills the trail through `record_many`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.bench import BenchError
from demo.bench.seed import bench_seed


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
        try:
            self.stdout.write(bench_seed(events=events, days=days, keep=keep))
        except BenchError as error:
            raise CommandError(str(error)) from error
