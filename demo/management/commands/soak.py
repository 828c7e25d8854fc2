"""manage.py soak: a bounded mixed workload against gunicorn and PostgreSQL, then proof that nothing was lost.

A thin wrapper over `demo.soak` (its docstring says what runs). `make soak` runs the default
profile (about 60 s of load), `make soak-ci` the short one (about 15 s). PostgreSQL only: the soak
drops and creates its own database on DATABASE_URL's server (`<name>_soak` unless --database).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo import soak


def _env_number(name: str, kind: type[int] | type[float]) -> int | float | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise CommandError(f"{name} must be a number, not {value!r}.") from None


class Command(BaseCommand):
    help = (
        "Run a bounded mixed workload (ingestion, Events pages, ListEvents, logins) against gunicorn "
        "and a db_worker on a fresh PostgreSQL database, print requests/s and p50/p95/p99 per "
        "endpoint, then check that every acknowledged event is stored exactly once. Exits non-zero "
        "on any loss, duplicate, 5xx or unexpected answer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--short", action="store_true", help="The CI profile: 15 s, 4 clients (default: 60 s, 8 clients)."
        )
        parser.add_argument("--duration", type=float, help="Seconds of load (env SOAK_DURATION).")
        parser.add_argument("--requests", type=int, help="At most this many requests (env SOAK_REQUESTS).")
        parser.add_argument("--concurrency", type=int, help="Concurrent clients (env SOAK_CONCURRENCY).")
        parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3).")
        parser.add_argument("--db-workers", type=int, default=2, help="db_worker processes (default 2).")
        parser.add_argument(
            "--database",
            help="The database to drop, create and load (default: DATABASE_URL's name + '_soak'; "
            "its name must contain 'soak').",
        )
        parser.add_argument(
            "--json", default=".run/soak.json", help="Where to write the summary (default .run/soak.json)."
        )
        parser.add_argument(
            "--log-dir", default=".run", help="gunicorn, worker and set-up logs (default .run)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Random seed of the clients (default 0).")

    def handle(self, *args: Any, **options: Any) -> None:
        profile = soak.PROFILES["short" if options["short"] else "default"]
        duration = options["duration"] or _env_number("SOAK_DURATION", float) or profile.duration
        requests = options["requests"] or _env_number("SOAK_REQUESTS", int) or profile.requests
        concurrency = options["concurrency"] or _env_number("SOAK_CONCURRENCY", int) or profile.concurrency
        if (
            duration <= 0
            or requests <= 0
            or concurrency <= 0
            or options["workers"] <= 0
            or options["db_workers"] <= 0
        ):
            raise CommandError(
                "--duration, --requests, --concurrency, --workers and --db-workers must be positive."
            )
        config = soak.SoakConfig(
            duration=float(duration),
            requests=int(requests),
            concurrency=int(concurrency),
            database=options["database"] or soak.default_database_name(),
            json_path=Path(options["json"]),
            log_dir=Path(options["log_dir"]),
            workers=options["workers"],
            db_workers=options["db_workers"],
            seed=options["seed"],
        )
        summary = soak.run(config, self.stdout)
        if not summary["ok"]:
            raise CommandError("soak failed: " + "; ".join(summary["failures"]))
        self.stdout.write(self.style.SUCCESS("soak passed: nothing lost, nothing duplicated, no 5xx."))
