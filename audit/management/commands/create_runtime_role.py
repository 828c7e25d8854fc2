"""`manage.py create_runtime_role`: the database role the web process and the worker run as."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from audit.database import RoleRefused, owner_alias, runtime_role_ensure


class Command(BaseCommand):
    help = (
        "Create (or bring in line) the PostgreSQL LOGIN role the application runs as: it owns "
        "nothing, may only INSERT and SELECT the append-only tables, and reads and writes the "
        "others, now and after later migrations. Run it after migrate, as a superuser or as the "
        "tables' owner with CREATEROLE. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default="audit_trail_app", help="Role name (default audit_trail_app).")
        parser.add_argument(
            "--password-file", help="File holding the role's password (sent SCRAM-hashed). Default: none."
        )
        parser.add_argument(
            "--database",
            default=owner_alias(),
            help="Database alias to run as (default: owner when DATABASE_OWNER_URL is set, else default).",
        )

    def handle(self, *args: Any, role: str, password_file: str | None, database: str, **options: Any) -> None:
        password = None
        if password_file:
            try:
                password = Path(password_file).read_text().strip()
            except OSError as error:
                raise CommandError(f"Cannot read {password_file}: {error.strerror}.") from None
            if not password:
                raise CommandError(f"{password_file} is empty.")
        try:
            result = runtime_role_ensure(role=role, password=password, using=database)
        except RoleRefused as refused:
            raise CommandError(str(refused)) from None
        except DatabaseError as error:
            raise CommandError(
                f"The database refused: {str(error).strip()} (run this as the owner)."
            ) from None
        verb = "Created" if result.created else "Updated"
        self.stdout.write(
            f"{verb} role {result.name}: INSERT and SELECT on the append-only tables, "
            "SELECT/INSERT/UPDATE/DELETE on the others, owner of nothing."
        )
        if not result.password_set:
            self.stdout.write(
                "No password set: pass --password-file unless the server authenticates otherwise."
            )
        self.stdout.write(
            f"Run the web process and the worker with DATABASE_URL as {result.name}, and set "
            "DATABASE_OWNER_URL to the owner for migrate and ensure_partitions."
        )
