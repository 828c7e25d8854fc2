"""Signed manifests for export files (`integrity.manifest` specifies their bytes).

An exporter feeds a `ManifestBuilder` the events of the file as it writes them, a chunk at a time,
and the file's bytes; `signed()` then answers the manifest, signed with the integrity key.

Where the file's events sit in the tree: the tree orders by arrival, a file by `recorded_at` and a
region (and, for a download, filters), so a file's events are in general *not* a contiguous run of
leaves. The manifest says what is true: the smallest and largest leaf index of the file's events,
how many of them are leaves, how many are not sealed yet, and whether they are exactly the leaves
`leaf_index_min..leaf_index_max` (`contiguous`). The head is the latest signed head when the
manifest was made; it holds every leaf the manifest counts (a leaf and its head commit together).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Max, Min

from audit.models import Event
from integrity.keys import signing_key
from integrity.manifest import VERSION, manifest_message
from integrity.models import Leaf, TreeHead
from integrity.services import head_json, latest_head


def iso(moment: datetime | None, timespec: str = "microseconds") -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec=timespec)


class ManifestBuilder:
    """Accumulates a file's manifest. Cost: one indexed query per `add_events` chunk (the chunk's
    leaves, by the (organization, event) unique index) and the hashing of the file's bytes."""

    def __init__(
        self,
        organization_id: uuid.UUID,
        *,
        fmt: str = "ndjson",
        compression: str = "none",
        timespec: str = "microseconds",
    ) -> None:
        """`timespec`: the precision of the file's times (a download's are to the millisecond),
        which the manifest's time range takes, so that the two compare equal."""
        self.organization_id = organization_id
        self.timespec = timespec
        self.fmt, self.compression = fmt, compression
        self.rows = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.leaf_min: int | None = None
        self.leaf_max: int | None = None
        self.leaves = 0
        self.content = hashlib.sha256()
        self.content_size = 0

    def add_events(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.rows += len(events)
        for event in events:
            if self.first is None or event.recorded_at < self.first:
                self.first = event.recorded_at
            if self.last is None or event.recorded_at > self.last:
                self.last = event.recorded_at
        found = Leaf.objects.filter(
            organization_id=self.organization_id, event_id__in=[e.id for e in events]
        ).aggregate(low=Min("index"), high=Max("index"), n=Count("index"))
        if found["n"]:
            self.leaves += found["n"]
            self.leaf_min = found["low"] if self.leaf_min is None else min(self.leaf_min, found["low"])
            self.leaf_max = found["high"] if self.leaf_max is None else max(self.leaf_max, found["high"])

    def add_content(self, data: bytes) -> None:
        """The file's (uncompressed) bytes, in order."""
        self.content.update(data)
        self.content_size += len(data)

    def signed(
        self, *, sha256: str | None = None, size: int | None = None, **described: Any
    ) -> dict[str, Any]:
        """The signed manifest. `sha256` and `size` are the file's as written (its gzip, when
        compressed); without, the uncompressed content's. `described` adds members (file name,
        day, filters…), signed with the rest."""
        head: TreeHead | None = latest_head(self.organization_id)
        content_sha256 = self.content.hexdigest()
        span = None if self.leaf_min is None or self.leaf_max is None else self.leaf_max - self.leaf_min + 1
        manifest: dict[str, Any] = {
            "version": VERSION,
            "organization_id": str(self.organization_id),
            **described,
            "format": self.fmt,
            "compression": self.compression,
            "rows": self.rows,
            "first_recorded_at": iso(self.first, self.timespec),
            "last_recorded_at": iso(self.last, self.timespec),
            "sha256": sha256 or content_sha256,
            "size": self.content_size if size is None else size,
            "content_sha256": content_sha256,
            "content_size": self.content_size,
            "tree": {
                "leaf_index_min": self.leaf_min,
                "leaf_index_max": self.leaf_max,
                "leaves": self.leaves,
                "unsealed": self.rows - self.leaves,
                "contiguous": self.leaves == self.rows and span in (None, self.rows),
            },
            "head": head_json(head) if head else None,
            "created_at": iso(datetime.now(UTC)),
        }
        return sign_manifest(manifest)


def sign_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    private, kid = signing_key()
    manifest = {**manifest, "key_id": kid}
    manifest["signature"] = private.sign(manifest_message(manifest)).hex()
    return manifest


def heads_signed_between(organization_id: uuid.UUID, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The organization's signed heads whose time falls in [start, end), by tree size. Cost: a
    read of the organization's heads (no index on their time; one on (organization_id,
    timestamp_ms) would make it a range read)."""
    low, high = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    heads = TreeHead.objects.filter(
        organization_id=organization_id, timestamp_ms__gte=low, timestamp_ms__lt=high
    ).order_by("tree_size")
    return [head_json(head) for head in heads.iterator(chunk_size=2000)]
