"""Sealing's events/s next to batch ingestion's, measured in the same run, and verify_trail's time
per million events: `manage.py bench_seal` (in `make bench`).

A fresh organization each run. Batch by batch, interleaved: a batch is ingested through the
ingestion service (parse, validate, store; its announcement is not acted on), then sealed as its
`events_recorded` task would seal it (`integrity.services.seal` with the batch's ids: the leaves'
canonical JSON and hashes, the tree's frontier, the leaf rows, one signed head). Sealing keeps up
when it seals at least as fast as ingestion stores. Then one full sweep (the anti-join that finds
events whose task was lost) and `verify_trail` over the whole tree are timed; verify's time is
extrapolated to a million events (it is linear: one pass over leaves and events).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from io import TextIOBase

from django.db import connection, transaction
from django.test.utils import override_settings

from audit import ingest
from demo.bench import BenchError
from demo.bench.ingest import _bench_organization, _wire_batch
from integrity.services import seal
from integrity.verification import verify_organization


def bench_seal(*, batches: int, size: int, out: TextIOBase) -> None:
    """Runs in one transaction that it rolls back: the organization, its events and its tree leave
    nothing behind, so `make bench` can run it beside the reference trail it reuses. (Neither
    contender pays a commit, so their ratio is still like for like.)"""
    if connection.vendor != "postgresql":
        raise BenchError("bench_seal measures PostgreSQL: set DATABASE_URL=postgres://… (its own database).")
    with transaction.atomic():
        _bench_seal(batches=batches, size=size, out=out)
        transaction.set_rollback(True)


def _bench_seal(*, batches: int, size: int, out: TextIOBase) -> None:
    organization, _ = _bench_organization()
    rng = random.Random(7)
    ingest_times: list[float] = []
    seal_times: list[float] = []
    with override_settings(INTEGRITY_SEAL_ON_RECORD=False):
        seal(organization.pk)  # what the organization already holds (the API key's creation): untimed
        for round_ in range(batches + 1):  # the first round warms up, untimed
            wire = _wire_batch(organization, size, rng)
            body = json.dumps({"events": wire}).encode()
            start = time.perf_counter()
            ingest.ingest_payload(body, organization=organization)
            ingested = time.perf_counter()
            sealed = seal(organization.pk, [e["id"] for e in wire])
            done = time.perf_counter()
            if sealed != size:
                raise BenchError(f"{sealed} events sealed of a batch of {size}")
            if round_:
                ingest_times.append(ingested - start)
                seal_times.append(done - ingested)
    total = batches * size
    ingest_rate, seal_rate = total / sum(ingest_times), total / sum(seal_times)
    ratios = sorted(i / s for i, s in zip(ingest_times, seal_times, strict=True))
    out.write(
        f"{batches} batches of {size} events; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
        f"batch ingestion (service)  {ingest_rate:>10,.0f} events/s\n"
        f"sealing (per batch, signed) {seal_rate:>9,.0f} events/s = {seal_rate / ingest_rate:.1f}x ingestion "
        f"(per-batch ratio median {statistics.median(ratios):.1f}x): "
        f"{'keeps up' if seal_rate >= ingest_rate else 'FALLS BEHIND'}\n"
    )
    start = time.perf_counter()
    seal(organization.pk)
    sweep = time.perf_counter() - start
    start = time.perf_counter()
    outcome = verify_organization(organization.pk)
    verify = time.perf_counter() - start
    if not outcome.ok:
        raise BenchError(f"verify_trail failed on the benchmark's own trail: {outcome.message}")
    out.write(
        f"full sweep (nothing left to seal) over {outcome.leaves:,} events: {sweep * 1000:,.0f} ms\n"
        f"verify_trail over {outcome.leaves:,} events: {verify:.2f} s = "
        f"{verify / outcome.leaves * 1_000_000 / 60:,.1f} min per million events\n"
    )
