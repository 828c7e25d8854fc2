"""manage.py ingest FILE: the ingestion API's batch, from a file (JSON or NDJSON)."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from audit import ingest
from audit.services import record_many
from iam.management.commands.create_api_key import organization_by_id_or_name


class Command(BaseCommand):
    help = (
        "Store the events of FILE (a JSON array, {\"events\": [...]}, or NDJSON; '-' for stdin) in "
        "ORG's trail: every event is validated, all are stored or none, and ids already stored are "
        "skipped, so running it twice is harmless."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the file, or - for standard input")
        parser.add_argument("--org", required=True, help="Organization id or exact name")
        parser.add_argument(
            "--ndjson", action="store_true", help="One event per line (default: guessed from .ndjson/.jsonl)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organization = organization_by_id_or_name(options["org"])
        path = options["file"]
        raw = sys.stdin.buffer.read() if path == "-" else _read(path)
        ndjson = options["ndjson"] or path.endswith((".ndjson", ".jsonl"))
        try:
            items = ingest.parse_payload_unbounded(raw, ndjson=ndjson)
        except ingest.BatchInvalid as invalid:
            self._fail(invalid.details)
        # Validate the whole file first, so every bad event is reported, then store it whole.
        events, errors = [], []
        for start in range(0, len(items), ingest.MAX_BATCH):
            try:
                events += ingest.validate(
                    items[start : start + ingest.MAX_BATCH], organization=organization, offset=start
                )
            except ingest.BatchInvalid as invalid:
                errors += invalid.details
        if errors:
            self._fail(errors)
        received = len(events)
        with transaction.atomic():
            created = sum(
                len(record_many(events[start : start + ingest.MAX_BATCH]))
                for start in range(0, received, ingest.MAX_BATCH)
            )
        self.stdout.write(f"{received} events read, {created} stored, {received - created} already present.")

    def _fail(self, details: list[dict[str, str]]) -> NoReturn:
        for detail in details:
            self.stderr.write(f"{detail['argument_name']}: {detail['help_message']}")
        raise CommandError(f"{len(details)} error(s); nothing was stored.")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}") from None
