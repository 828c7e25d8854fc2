"""`manage.py migrate`, as the tables' owner: Django's command, with `--database` defaulting to
the `owner` alias when DATABASE_OWNER_URL is set (the runtime role of DATABASE_URL may not
create or alter tables), and every query of the data migrations sent there too. After it, audit's post_migrate keeps partitions ahead and the runtime
role's grants up to date (audit.partitions.after_migrate)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.core.management.commands.migrate import Command as MigrateCommand

from audit.database import as_owner, owner_alias, unbounded_statements


class Command(MigrateCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(database=owner_alias())

    def handle(self, *args: Any, **options: Any) -> None:
        with as_owner(), unbounded_statements(options["database"]):
            super().handle(*args, **options)
