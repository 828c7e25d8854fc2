"""A test-only app the fault tests load into the worker subprocess (tests/faults/worker_settings.py).

With FAULT_HANG_ON_ALERT_SAVE set to a path, the worker touches that file and then hangs just
before it saves an alert: it is mid-evaluation, inside the transaction, when the test kills it.

With FAULT_HANG_IN_EXPORT_PUT set to a path, the worker's third upload of a day's events sends
half of the object's body, touches that file, and hangs: the PUT is on the wire when the test
kills it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import pre_save


def _hang(sender: Any, **kwargs: Any) -> None:
    Path(os.environ["FAULT_HANG_ON_ALERT_SAVE"]).touch()
    time.sleep(600)


class _HalfThenHang:
    """A body that gives half its bytes, then hangs on the next read."""

    def __init__(self, body: Any, marker: Path) -> None:
        self.body = body
        self.marker = marker
        self.given = False

    def read(self, size: int = -1) -> bytes:
        if self.given:
            self.marker.touch()
            time.sleep(600)
        self.given = True
        data: bytes = self.body.read()
        return data[: max(len(data) // 2, 1)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.body, name)


def _hang_in_third_put() -> None:
    from exports.storage import NDJSON_GZ, S3Storage

    real_put = S3Storage.put
    calls = {"n": 0}
    marker = Path(os.environ["FAULT_HANG_IN_EXPORT_PUT"])

    def put(self: S3Storage, key: str, body: Any, *, content_type: str = NDJSON_GZ) -> None:
        # The third day's events (a day's manifest and heads are uploads of their own, not counted).
        if content_type == NDJSON_GZ:
            calls["n"] += 1
            if calls["n"] == 3:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=_HalfThenHang(body, marker), ContentLength=_size(body)
                )
        return real_put(self, key, body, content_type=content_type)

    S3Storage.put = put  # type: ignore[method-assign]  # the fault under test


def _size(body: Any) -> int:
    here = body.tell()
    body.seek(0, os.SEEK_END)
    size: int = body.tell()
    body.seek(here)
    return size


class FaultsConfig(AppConfig):
    name = "tests.faults"
    label = "faults"

    def ready(self) -> None:
        if os.environ.get("FAULT_HANG_ON_ALERT_SAVE"):
            pre_save.connect(_hang, sender="alerts.Alert", weak=False, dispatch_uid="faults_hang")
        if os.environ.get("FAULT_HANG_IN_EXPORT_PUT"):
            _hang_in_third_put()
