"""`manage.py bench` (`make bench`): the reference benchmark of issue 14 on PostgreSQL.

A thin wrapper over `demo.bench.reference` (its docstring says what is loaded and timed). It
runs on a database of its own, which it creates and migrates: `DATABASE_URL=postgres://…/at_bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.bench import BenchError
from demo.bench.reference import bench


class Command(BaseCommand):
    help = "Time every Events filter set, IAM Logs and the alert query on a skewed trail of N events (PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events", type=int, default=10_000_000, help="N, the trail's size (default 10 M)"
        )
        parser.add_argument("--runs", type=int, default=30, help="Timed draws per contender (default 30)")
        parser.add_argument(
            "--admin-every", type=int, default=3, help="The admin runs on one draw in this many (default 3)"
        )
        parser.add_argument(
            "--ingest-rounds",
            type=int,
            default=10,
            help="Rounds of record_many against COPY on the trail as it stands, rolled back (default 10)",
        )
        parser.add_argument("--seed", type=int, default=14)
        parser.add_argument("--json", type=Path, default=Path(".run/bench.json"), help="Where the JSON goes")

    def handle(
        self,
        *args: Any,
        events: int,
        runs: int,
        admin_every: int,
        ingest_rounds: int,
        seed: int,
        json: Path,
        **options: Any,
    ) -> None:
        try:
            bench(
                events=events,
                runs=runs,
                admin_every=admin_every,
                ingest_rounds=ingest_rounds,
                seed=seed,
                json_path=json,
                out=self.stdout,
            )
        except BenchError as error:
            raise CommandError(str(error)) from error
