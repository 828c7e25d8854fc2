"""A test-only app the fault tests load into the worker subprocess (tests/faults/worker_settings.py).

With FAULT_HANG_ON_ALERT_SAVE set to a path, the worker touches that file and then hangs just
before it saves an alert: it is mid-evaluation, inside the transaction, when the test kills it.
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


class FaultsConfig(AppConfig):
    name = "tests.faults"
    label = "faults"

    def ready(self) -> None:
        if os.environ.get("FAULT_HANG_ON_ALERT_SAVE"):
            pre_save.connect(_hang, sender="alerts.Alert", weak=False, dispatch_uid="faults_hang")
