"""`manage.py bench_events`: the Events page and ListEvents, timed on a million events (PostgreSQL).

A thin wrapper over `demo.bench.events` (its docstring says what is loaded and measured). Run it
on a database of its own (events are append-only: what it loads stays):
`DATABASE_URL=postgres://…/at_bench manage.py migrate && manage.py bench_events`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.bench import BenchError
from demo.bench.events import bench_events


class Command(BaseCommand):
    help = "Time the Events page and ListEvents on a million events (PostgreSQL, a database of its own)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=1_000_000, help="Big organization's events")
        parser.add_argument("--noise", type=int, default=None, help="Other organizations' (default events/4)")
        parser.add_argument("--days", type=int, default=60, help="Days they spread over (default 60)")
        parser.add_argument("--runs", type=int, default=15, help="Timed runs per case (default 15)")
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Measure the events an earlier run loaded (the first run loads them)",
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(
        self,
        *args: Any,
        events: int,
        noise: int | None,
        days: int,
        runs: int,
        reuse: bool,
        seed: int,
        **options: Any,
    ) -> None:
        try:
            bench_events(
                events=events, noise=noise, days=days, runs=runs, reuse=reuse, seed=seed, out=self.stdout
            )
        except BenchError as error:
            raise CommandError(str(error)) from error
