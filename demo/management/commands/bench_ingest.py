"""`manage.py bench_ingest`: batch ingestion's events/s next to a raw COPY into the same table.

A thin wrapper over `demo.bench.ingest` (its docstring says what is timed). PostgreSQL only, on a
database of its own: `DATABASE_URL=postgres://…/at_bench manage.py migrate && make bench`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import ingest
from demo.bench import BenchError
from demo.bench.ingest import bench_ingest


class Command(BaseCommand):
    help = "Measure batch ingestion (events/s) against a raw COPY into the same indexed table (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batches", type=int, default=20, help="Batches per path (default 20)")
        parser.add_argument("--batch-size", type=int, default=ingest.MAX_BATCH, help="Events per batch")
        parser.add_argument("--no-http", action="store_true", help="Skip the HTTP path")

    def handle(self, *args: Any, batches: int, batch_size: int, no_http: bool, **options: Any) -> None:
        try:
            bench_ingest(batches=batches, size=batch_size, http=not no_http, out=self.stdout)
        except BenchError as error:
            raise CommandError(str(error)) from error
