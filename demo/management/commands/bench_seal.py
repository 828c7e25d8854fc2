"""`manage.py bench_seal`: sealing's events/s next to ingestion's, and verify_trail's time per million.

A thin wrapper over `demo.bench.seal` (its docstring says what is timed). PostgreSQL only, on a
database of its own: `DATABASE_URL=postgres://…/at_bench manage.py migrate && make bench`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import ingest
from demo.bench import BenchError
from demo.bench.seal import bench_seal


class Command(BaseCommand):
    help = (
        "Measure sealing (events/s) against batch ingestion in the same run, and verify_trail (PostgreSQL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batches", type=int, default=20, help="Batches (default 20)")
        parser.add_argument("--batch-size", type=int, default=ingest.MAX_BATCH, help="Events per batch")

    def handle(self, *args: Any, batches: int, batch_size: int, **options: Any) -> None:
        try:
            bench_seal(batches=batches, size=batch_size, out=self.stdout)
        except BenchError as error:
            raise CommandError(str(error)) from error
