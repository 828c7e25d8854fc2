"""Batch ingestion's events/s next to a raw COPY into the same table: `manage.py bench_ingest`.

PostgreSQL only. Run it on a database of its own (it appends to audit_event, which nothing may
delete from): `DATABASE_URL=postgres://…/at_bench manage.py migrate && make bench`.

Three paths are timed batch by batch, interleaved so that a noisy neighbour slows them alike
(after one untimed warm-up batch each); every batch holds fresh events of the same shape:
- COPY: ready rows COPYed into audit_event (all its indexes), one transaction per batch, the
  way `audit.services.record_many` ends ingestion: the floor under the door. It is the one
  writer of events outside `audit.services`, on purpose: it bypasses the door (no idempotency
  key is claimed, nothing is announced) to measure what the door adds, on a database of its own;
- ingest: the ingestion service from the request body's bytes: parse, validate, build, store;
- HTTP: the same through the API view (Django's test client: routing, auth, rate limit, JSON).
Preparing the data is not timed.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
import uuid
from datetime import timedelta
from io import TextIOBase
from typing import TYPE_CHECKING, Any, cast

import orjson
from django.db import connection, models, transaction
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from audit import ingest
from audit.models import Event
from audit.services import Actor
from core.ids import uuid7
from demo.bench import BenchError
from iam.models import Organization, User
from iam.services import api_key_create

if TYPE_CHECKING:
    from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLWrapper

METHODS = ["CreateSecret", "UpdateSecret", "DeleteSecret", "CreateSecretVersion", "AccessSecretVersion"]


def bench_ingest(*, batches: int, size: int, http: bool, out: TextIOBase) -> None:
    """Time the three paths, `batches` batches of `size` events each (HTTP only if `http`), and
    write the rates to `out`. Raises BenchError when it cannot run here (not PostgreSQL, not
    migrated) or when the events stored are not the events sent."""
    _Bench(out).run(batches=batches, size=size, http=http)


class _Bench:
    def __init__(self, out: TextIOBase) -> None:
        self.stdout = out

    def run(self, *, batches: int, size: int, http: bool) -> None:
        if connection.vendor != "postgresql":
            raise BenchError(
                "bench_ingest measures PostgreSQL: set DATABASE_URL=postgres://… (its own database)."
            )
        if Event._meta.db_table not in connection.introspection.table_names():
            raise BenchError("Run `manage.py migrate` on this database first.")
        organization, secret = _bench_organization()
        client = Client(HTTP_X_AUTH_TOKEN=secret, HTTP_HOST="localhost") if http else None
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_event")  # as autovacuum keeps a live table: real plans
        before = Event.objects.filter(organization_id=organization.pk).count()
        pg_version = cast("PostgreSQLWrapper", connection).pg_version  # its vendor checked above
        self.stdout.write(
            f"PostgreSQL {pg_version // 10000}: {batches} batches of {size} events per path, "
            f"audit_event holds ~{_estimated_rows()} rows; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs (a busy machine slows the Python side most)\n"
        )
        rng = random.Random(42)
        paths = ["copy", "ingest"] + ([] if client is None else ["http"])

        def run(path: str) -> float:
            if path == "copy":  # ready rows, built (untimed) the way ingestion builds them
                batch = ingest.validate(_wire_batch(organization, size, rng), organization=organization)
                rows = [_copy_values(e) for e in batch]
                return _timed_copy(rows)
            body = json.dumps({"events": _wire_batch(organization, size, rng)}).encode()
            if path == "ingest":
                return _timed(lambda: ingest.ingest_payload(body, organization=organization))
            assert client is not None  # "http" is a path only with a client
            return _timed(lambda: _post(client, body))

        for path in paths:  # warm-up, untimed: first queries, caches, lazy imports
            run(path)
        timings: dict[str, list[float]] = {path: [] for path in paths}
        for round_ in range(batches):
            # Interleaved, and each path takes its turn at going first, so that neither always
            # inherits the other's leftovers (GIN pending-list merges, checkpoints, autovacuum).
            for path in paths[round_ % len(paths) :] + paths[: round_ % len(paths)]:
                timings[path].append(run(path))
        stored = Event.objects.filter(organization_id=organization.pk).count() - before
        expected = (batches + 1) * size * len(paths)
        if stored != expected:
            raise BenchError(f"{stored} events stored, {expected} expected")
        total = batches * size
        # Two rates per path: over all batches, and from the median batch. The first carries
        # whichever path happened to pay a GIN pending-list merge or a checkpoint; the second
        # does not.
        copy_rate = total / sum(timings["copy"])
        copy_median = size / statistics.median(timings["copy"])
        self.stdout.write(
            f"raw COPY into audit_event     {copy_rate:>10,.0f} events/s overall, "
            f"{copy_median:>8,.0f} in the median batch\n"
        )
        for name, label in (("ingest", "batch ingestion (service)"), ("http", "batch ingestion (HTTP API)")):
            if name not in timings:
                continue
            rate = total / sum(timings[name])
            median_rate = size / statistics.median(timings[name])
            # Per round, both paths ran back to back under the same load: the median of those
            # ratios shrugs off a burst that hit one batch.
            ratios = sorted(c / t for c, t in zip(timings["copy"], timings[name], strict=True))
            self.stdout.write(
                f"{label:<29} {rate:>10,.0f} events/s overall = {rate / copy_rate:.0%} of COPY; "
                f"median batch {median_rate:,.0f} = {median_rate / copy_median:.0%}; "
                f"per-round ratio median {statistics.median(ratios):.0%} "
                f"(quartiles {ratios[len(ratios) // 4]:.0%}-{ratios[3 * len(ratios) // 4]:.0%})\n"
            )
        self.stdout.write(f"load average {os.getloadavg()[0]:.1f} at the end\n")


def _post(client: Client, body: bytes) -> None:
    with override_settings(API_RATE_LIMIT=0):
        response = client.post("/x/audit-trail/v1/events", body, content_type="application/json")
    if response.status_code != 200:
        raise BenchError(f"HTTP ingestion answered {response.status_code}: {response.content[:300]!r}")


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _copy_values(event: Event) -> list[Any]:
    """An event's values as COPY's text format takes them (JSON columns as JSON text), as the
    door sends them."""
    return [
        orjson.dumps(value).decode() if isinstance(field, models.JSONField) else value
        for field in Event._meta.concrete_fields
        for value in (getattr(event, field.attname),)
    ]


def _timed_copy(rows: list[list[Any]]) -> float:
    """The rows, ready in memory, COPYed as the door COPYs them, one `write_row` each."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in Event._meta.concrete_fields if f.column is not None)
    start = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {qn(Event._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for values in rows:
            copy.write_row(values)
    return time.perf_counter() - start


def _estimated_rows() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(c.reltuples), 0)::bigint FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_event'::regclass"
        )
        return f"{max(cursor.fetchone()[0], 0):,}"


def _bench_organization() -> tuple[Organization, str]:
    owner, _ = User.objects.get_or_create(email="bench@audit-trail.invalid", defaults={"username": "bench"})
    organization, _ = Organization.objects.get_or_create(
        name="Ingestion benchmark", defaults={"owner": owner}
    )
    _, secret = api_key_create(
        actor=Actor.system(), organization=organization, user=owner, description="bench"
    )
    return organization, secret


def _wire_batch(organization: Organization, size: int, rng: random.Random) -> list[dict[str, Any]]:
    """Realistic events: 1-3 resources, a request body with a secret to redact, spread over an hour."""
    now = timezone.now()
    principals = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20)]
    batch = []
    for _ in range(size):
        at = now - timedelta(seconds=rng.uniform(0, 3600))
        resources = [
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "type": "secret_manager_secret",
                "name": f"secret-{rng.randrange(10_000)}",
                "created_at": at.isoformat(),
                "updated_at": at.isoformat(),
                "deleted_at": None,
                "secret_manager_secret_info": {"path": "/"},
            }
            for _ in range(rng.randint(1, 3))
        ]
        batch.append(
            {
                "id": str(uuid7(at)),
                "recorded_at": at.isoformat(),
                "locality": rng.choice(["fr-par", "nl-ams", "pl-waw", "global"]),
                "principal": {"id": rng.choice(principals)},
                "organization_id": str(organization.pk),
                "project_id": None,
                "source_ip": f"198.51.100.{rng.randrange(256)}",
                "user_agent": "scaleway-sdk-go/v1.0.0-beta.7 terraform-provider/2.60",
                "product_name": "secret-manager",
                "service_name": "scaleway.secret_manager.v1beta1.Api",
                "method_name": rng.choice(METHODS),
                "resources": resources,
                "request_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "request_body": {
                    "name": resources[0]["name"],
                    "path": "/",
                    "tags": ["prod"],
                    "secret_key": "s3cr3t",
                },
                "status_code": rng.choice([200] * 9 + [403]),
            }
        )
    return batch
