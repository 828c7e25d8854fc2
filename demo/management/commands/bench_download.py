"""`manage.py bench_download`: "Download this view" on a million events, rows/s and peak RSS.

A thin wrapper over `demo.bench.download` (its docstring says what is loaded and measured). Run it
on a database of its own: the events it loads stay.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.bench import BenchError
from demo.bench.download import bench_download


class Command(BaseCommand):
    help = "Stream the Events view of a million events as CSV and NDJSON; print rows/s and peak RSS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events", type=int, default=1_000_000, help="Events to download (default 1,000,000)"
        )
        parser.add_argument("--days", type=int, default=20, help="Days they spread over (at most 29)")

    def handle(self, *args: Any, events: int, days: int, **options: Any) -> None:
        try:
            bench_download(events=events, days=days, out=self.stdout)
        except BenchError as error:
            raise CommandError(str(error)) from error
