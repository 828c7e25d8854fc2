"""`manage.py ensure_partitions`: keep the events table's monthly partitions ahead (run it daily)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from audit.database import owner_alias
from audit.partitions import ensure_partitions


class Command(BaseCommand):
    help = (
        "Create the monthly partitions of audit_event from --months-back before this month to "
        "--months-ahead after it (PostgreSQL; a no-op on SQLite). Idempotent: run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--months-ahead", type=int, default=2, help="Months after this one (default 2).")
        parser.add_argument("--months-back", type=int, default=0, help="Months before this one (default 0).")
        parser.add_argument(
            "--database",
            default=owner_alias(),
            help="Database alias (default: owner when DATABASE_OWNER_URL is set, else default).",
        )

    def handle(self, *args: Any, months_ahead: int, months_back: int, database: str, **options: Any) -> None:
        if months_ahead < 0 or months_back < 0:
            raise CommandError("--months-ahead and --months-back must be 0 or more.")
        if connections[database].vendor != "postgresql":
            self.stdout.write("Nothing to do: the events table is partitioned on PostgreSQL only.")
            return
        created = ensure_partitions(months_ahead, months_back=months_back, using=database)
        if created:
            self.stdout.write(f"Created {len(created)} partition(s): {', '.join(created)}.")
        else:
            self.stdout.write("All partitions already exist.")
