"""Fault: the same batch from 8 concurrent clients is stored exactly once.

Real concurrency: 8 threads, each with its own database connection, post through the whole
HTTP stack at once (a barrier releases them together). Each client stamps the batch with its own
`recorded_at`, as retrying producers do, so the events table's own key cannot tell the copies
apart: only the per-organization idempotency key can. On SQLite the writers queue up (IMMEDIATE
transactions), which must give the same answer.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from audit.models import Event
from core.ids import uuid7
from tests.api.conftest import ApiClient, wire_event

INGEST = "/x/audit-trail/v1/events"
CLIENTS = 8
BATCH = 50


def _send_at_once(batches: list[list[dict]], secret: str) -> list:
    barrier = threading.Barrier(len(batches))

    def client(batch: list[dict]):
        try:
            api = ApiClient(secret)
            body = json.dumps({"events": batch})
            barrier.wait(timeout=30)
            return api.post(INGEST, body, content_type="application/json")
        finally:
            connections.close_all()  # this thread's connection, before the test database goes

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        return list(pool.map(client, batches))


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_from_8_concurrent_clients_is_stored_exactly_once(acme, writer_key):
    now = timezone.now()
    ids = [str(uuid7(now - timedelta(minutes=5))) for _ in range(BATCH)]
    batches = [
        # every client's copy carries its own recorded_at, in a shuffled order
        [
            wire_event(
                acme, id=pk, recorded_at=(now - timedelta(seconds=client + 1, milliseconds=i)).isoformat()
            )
            for i, pk in enumerate(ids[client:] + ids[:client])
        ]
        for client in range(CLIENTS)
    ]
    responses = _send_at_once(batches, writer_key[1])
    assert [r.status_code for r in responses] == [200] * CLIENTS, [r.content[:200] for r in responses]
    answers = [r.json() for r in responses]
    assert sum(a["created"] for a in answers) == BATCH
    assert sum(a["duplicates"] for a in answers) == BATCH * (CLIENTS - 1)
    stored = Counter(
        str(pk) for pk in Event.objects.filter(organization_id=acme.pk).values_list("id", flat=True)
    )
    assert {pk: stored[pk] for pk in ids} == dict.fromkeys(ids, 1)
