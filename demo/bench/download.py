""" "Download this view" on a million events: `manage.py bench_download`.

Loads `--events` events (default 1,000,000) for its own organization, "Download benchmark", over
the last `--days` days (default 20), through `audit.services.record_many` in batches; a later run
reuses them (events are append-only: run it on a database of its own). Then it downloads the
Events view of the last 30 days as CSV and as NDJSON through the real view (Django's test client,
signed in as the organization's owner), reading the stream to its end, and prints rows per second
and the process's peak RSS during the download, above its size just before.

Peak RSS: Linux's VmHWM, reset before each download (`/proc/self/clear_refs`), so the load does
not count. The download must stay flat: the issue's bound is 200 MB above the idle size.
The NDJSON count includes the CSV download's own audit event (DownloadEvents), recorded in the
same organization and window.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from io import TextIOBase
from pathlib import Path

from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from audit.models import Event
from audit.services import Actor, build_event, record_many
from demo.bench import BenchError
from iam.models import Organization, User

NAME = "Download benchmark"
OWNER = "owner@download-bench.test"
BATCH = 10_000
METHODS = ("CreateSecret", "DeleteSecret", "ListSecrets", "CreateAPIKey", "UpdateServer")


def _vm(field: str) -> int:
    """A /proc/self/status size in bytes (0 where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _organization() -> tuple[Organization, User]:
    owner, _ = User.objects.get_or_create(email=OWNER, defaults={"username": OWNER})
    organization = Organization.objects.filter(name=NAME, owner=owner).first()
    if organization is None:
        organization = Organization.objects.create(name=NAME, owner=owner)
    return organization, owner


def _load(organization: Organization, *, events: int, days: int, out: TextIOBase) -> None:
    have = Event.objects.filter(organization_id=organization.pk, region="fr-par").count()
    if have >= events:
        out.write(f"Reusing {have:,} events of {NAME}.\n")
        return
    random.seed(1)
    now = timezone.now() - timedelta(minutes=5)
    span = timedelta(days=days).total_seconds()
    principals = [uuid.uuid4() for _ in range(50)]
    started = time.monotonic()
    for start in range(have, events, BATCH):
        batch = [
            build_event(
                organization_id=organization.pk,
                actor=Actor(
                    principal_type="user",
                    principal_id=random.choice(principals),
                    principal_name="bench@download-bench.test",
                    source_ip=f"198.51.100.{random.randint(1, 254)}",
                    user_agent="scaleway-sdk-python/2.12.0",
                ),
                product_name="secret-manager",
                service_name="scaleway.secret_manager.v1beta1.Api",
                method_name=random.choice(METHODS),
                locality="fr-par",
                status_code=random.choice((200, 200, 200, 403)),
                resources=[{"id": str(uuid.uuid4()), "type": "secret_manager_secret", "name": "db-pass"}],
                request_body={"name": "db-pass"},
                recorded_at=now - timedelta(seconds=random.random() * span),
            )
            for _ in range(min(BATCH, events - start))
        ]
        record_many(batch)
    out.write(f"Loaded {events - have:,} events in {time.monotonic() - started:.0f} s.\n")


def bench_download(*, events: int, days: int, out: TextIOBase) -> None:
    if days > 29:
        raise BenchError("--days must be at most 29: the download is the Events view of the last 30 days.")
    organization, owner = _organization()
    _load(organization, events=events, days=days, out=out)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_event")
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    url = reverse("exports:download")
    out.write(f"{connection.vendor}; {events:,} events, the Events view of the last 30 days.\n")
    for fmt in ("csv", "ndjson"):
        with override_settings(EXPORT_DOWNLOAD_MAX_ROWS=events + 1):
            idle = _vm("VmRSS")
            measured = _reset_peak()
            started = time.monotonic()
            response = client.get(url, {"range": "30d", "region": "fr-par", "format": fmt})
            if response.status_code != 200:
                raise BenchError(f"The download answered {response.status_code}.")
            size = lines = 0
            for chunk in response.streaming_content:  # type: ignore[attr-defined]  # a StreamingHttpResponse
                size += len(chunk)
                lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
            elapsed = time.monotonic() - started
            rows = lines - 1 if fmt == "csv" else lines
            peak = _vm("VmHWM") if measured else 0
        above = (
            f"{(peak - idle) / 2**20:,.0f} MB above the idle {idle / 2**20:,.0f} MB"
            if peak
            else "n/a (no /proc)"
        )
        out.write(
            f"{fmt:>6}: {rows:,} rows, {size / 2**20:,.0f} MB in {elapsed:.1f} s: "
            f"{rows / elapsed:,.0f} rows/s; peak RSS {peak / 2**20:,.0f} MB, {above}\n"
        )
