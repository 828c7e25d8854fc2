"""The console's times with their offset (`core.time.with_offset`), written from the datetime's
fields: the same text as strftime's, in every zone, offsets with seconds and negative ones too."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from core.time import utc_offset, with_offset

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "America/Los_Angeles",
]


def _strftime(local: datetime, precision: str) -> str:
    """What strftime writes, as the console wrote it before (the year padded by hand)."""
    raw = local.strftime("%z")
    offset = ":".join((raw[:3], raw[3:5], *((raw[5:7],) if raw[5:7] else ()))) if raw else "+00:00"
    if precision == "time":
        return f"{local.strftime('%H:%M:%S')} {offset}"
    formats = {"minutes": "%m-%d %H:%M", "seconds": "%m-%d %H:%M:%S", "ms": "%m-%d %H:%M:%S."}
    text = f"{local.year:04d}-" + local.strftime(formats[precision])
    if precision == "ms":
        text += f"{local.microsecond // 1000:03d}"
    return f"{text} {offset}"


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1800, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    precision=st.sampled_from(["seconds", "minutes", "ms", "time"]),
)
def test_with_offset_writes_what_strftime_wrote(moment, zone, precision):
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        local = timezone.localtime(moment)
        assert with_offset(moment, precision) == _strftime(local, precision)
        assert utc_offset(moment) == _strftime(local, "time").split(" ")[1]


def test_offsets_with_seconds_negative_and_years_before_1000():
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        assert with_offset(datetime(1900, 6, 1, 12, tzinfo=UTC)) == "1900-06-01 12:09:21 +00:09:21"
    with timezone.override(zoneinfo.ZoneInfo("America/St_Johns")):
        assert with_offset(datetime(2026, 1, 1, 12, tzinfo=UTC), "minutes") == "2026-01-01 08:30 -03:30"
    with timezone.override(UTC):
        assert (
            with_offset(datetime(987, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC), "ms")
            == "0987-03-04 05:06:07.890 +00:00"
        )
    assert with_offset(None) == ""
