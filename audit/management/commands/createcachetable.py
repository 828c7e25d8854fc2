"""`manage.py createcachetable`, as the tables' owner: Django's command, with `--database`
defaulting to the `owner` alias when DATABASE_OWNER_URL is set, as `migrate` does (the runtime
role may not create tables; default privileges then give it the cache table's rows)."""

from __future__ import annotations

from django.core.management.base import CommandParser
from django.core.management.commands.createcachetable import Command as CreateCacheTableCommand

from audit.database import owner_alias


class Command(CreateCacheTableCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(database=owner_alias())
