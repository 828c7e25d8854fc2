""" "Download this view": the Events list as filtered, streamed as CSV or NDJSON.

Rows come from the database in keyset order through a server-side iterator, a chunk at a time,
and leave as text as they come: memory stays flat whatever the size. Principals are named as the
Events table names them (`audit.selectors.events_with_principals`, one query per chunk). Times are
ISO 8601 with the viewer's offset. At most `EXPORT_DOWNLOAD_MAX_ROWS` rows; when there were more,
the last line says so.

Each download has a signed manifest (`Signer`), stored when the stream ends and served at the URL
the response names in its `Link: <…>; rel="describedby"` header (and the Exports tab lists a user's
recent ones): the file is streamed, so its SHA-256 is known only after its last byte.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from itertools import batched
from typing import Any

import orjson
from django.db.models import QuerySet

from audit.models import Event
from audit.selectors import events_with_principals
from audit.serializers import event_json
from exports.models import DownloadManifest
from iam.models import Organization
from integrity.export_manifests import ManifestBuilder

CHUNK = 2000
FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
CSV_COLUMNS = (
    "recorded_at",
    "principal",
    "principal_id",
    "product_name",
    "service_name",
    "method_name",
    "status_code",
    "resource_type",
    "resource_id",
    "resource_name",
    "source_ip",
    "user_agent",
    "request_id",
    "project_id",
    "locality",
    "id",
)
# A spreadsheet runs a cell that starts with one of these as a formula: such values get a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def truncation_note(limit: int) -> str:
    return f"Truncated: this download stops at {limit:,} rows (EXPORT_DOWNLOAD_MAX_ROWS); narrow the filters for the rest."


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class Signer:
    """A download's signed manifest in the making: the events written (per chunk) and the bytes
    sent, hashed as they leave; once the last byte left, the manifest is signed and stored under
    `manifest_id` (the URL the response's `Link` header named). Memory stays flat."""

    def __init__(
        self,
        organization: Organization,
        *,
        fmt: str,
        manifest_id: uuid.UUID,
        user_id: uuid.UUID | None,
        filename: str,
        described: dict[str, Any],
    ) -> None:
        self.organization = organization
        self.builder = ManifestBuilder(organization.pk, fmt=fmt, timespec="milliseconds")
        self.manifest_id, self.user_id, self.filename = manifest_id, user_id, filename
        self.described = described
        self.truncated = False

    def wrap(self, stream: Iterable[str | bytes]) -> Iterator[bytes]:
        for piece in stream:
            data = piece.encode("utf-8") if isinstance(piece, str) else piece
            self.builder.add_content(data)
            yield data
        manifest = self.builder.signed(file=self.filename, truncated=self.truncated, **self.described)
        DownloadManifest.objects.create(
            id=self.manifest_id,
            organization=self.organization,
            user_id=self.user_id,
            filename=self.filename,
            rows=manifest["rows"],
            sha256=manifest["sha256"],
            manifest=manifest,
        )


def _rows(
    qs: QuerySet[Event], organization: Organization, limit: int, signer: Signer | None = None
) -> Iterator[tuple[Event, bool]]:
    """(event, last-of-the-limit) for at most limit + 1 events, principals attached per chunk."""
    seen = 0
    for chunk in batched(qs[: limit + 1].iterator(chunk_size=CHUNK), CHUNK):
        events = events_with_principals(organization=organization, events=list(chunk))
        if signer is not None:
            kept = events[: max(0, limit - seen)]
            signer.builder.add_events(kept)
            signer.truncated = signer.truncated or len(kept) < len(events)
        for event in events:
            seen += 1
            yield event, seen > limit


def _at(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def stream_csv(
    qs: QuerySet[Event], *, organization: Organization, zone: tzinfo, limit: int, signer: Signer | None = None
) -> Iterable[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for written, (event, over) in enumerate(_rows(qs, organization, limit, signer), start=1):
        if over:
            writer.writerow([f"# {truncation_note(limit)}"])
            break
        resources = event.resources or []
        first = resources[0] if resources and isinstance(resources[0], dict) else {}
        label = event.principal_label  # type: ignore[attr-defined]  # events_with_principals
        writer.writerow(
            [
                _at(event.recorded_at, zone),
                _cell(label.name),
                event.principal_id or "",
                _cell(event.product_name),
                _cell(event.service_name),
                _cell(event.method_name),
                event.status_code,
                _cell(first.get("type")),
                _cell(first.get("id")),
                _cell(first.get("name")),
                event.source_ip or "",
                _cell(event.user_agent),
                _cell(event.request_id),
                event.project_id or "",
                event.locality,
                event.id,
            ]
        )
        if written % 500 == 0:
            yield flush()
    yield flush()


def stream_ndjson(
    qs: QuerySet[Event], *, organization: Organization, zone: tzinfo, limit: int, signer: Signer | None = None
) -> Iterable[bytes]:
    lines: list[bytes] = []
    for event, over in _rows(qs, organization, limit, signer):
        if over:
            lines.append(orjson.dumps({"truncated": True, "message": truncation_note(limit)}) + b"\n")
            break
        data = event_json(event)
        data["recorded_at"] = _at(event.recorded_at, zone)
        data["principal_name"] = event.principal_label.name  # type: ignore[attr-defined]  # events_with_principals
        lines.append(orjson.dumps(data) + b"\n")
        if len(lines) >= 500:
            yield b"".join(lines)
            lines.clear()
    yield b"".join(lines)
