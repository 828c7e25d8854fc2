from __future__ import annotations

import os
import time
import uuid
from datetime import datetime


def uuid7(at: datetime | None = None) -> uuid.UUID:
    """An RFC 9562 UUIDv7: 48 bits of Unix milliseconds, then randomness. Sorts by time."""
    ms = int(at.timestamp() * 1000) if at else time.time_ns() // 1_000_000
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)


def uuid7_time(value: uuid.UUID) -> datetime:
    """The millisecond timestamp a UUIDv7 carries (the partition it lives in)."""
    from datetime import UTC

    return datetime.fromtimestamp((value.int >> 80) / 1000, tz=UTC)
