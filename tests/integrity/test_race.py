"""Two workers sealing one organization at once take turns on its tree's row: every event is sealed
once, the leaves are contiguous, and the trail verifies."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from integrity.models import Leaf, TreeHead
from integrity.services import seal
from integrity.verification import verify_organization
from tests.factories import OrganizationFactory, UserFactory
from tests.integrity.conftest import make_events


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_seal_each_event_once(settings) -> None:
    settings.INTEGRITY_SEAL_ON_RECORD = False  # the two "workers" below do it
    organization = OrganizationFactory(owner=UserFactory())
    events = make_events(organization, 60)
    halves = [[e.id for e in events[:40]], [e.id for e in events[20:]]]  # overlapping batches
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker(ids) -> None:
        try:
            barrier.wait()
            seal(organization.pk, ids)
            seal(organization.pk)  # and a sweep
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(ids,)) for ids in halves]
    for thread in threads:
        thread.start()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    leaves = list(Leaf.objects.filter(organization_id=organization.pk).order_by("index"))
    assert [leaf.index for leaf in leaves] == list(
        range(Leaf.objects.filter(organization_id=organization.pk).count())
    )
    assert {leaf.event_id for leaf in leaves} >= {e.id for e in events}
    assert len({leaf.event_id for leaf in leaves}) == len(leaves)
    assert TreeHead.objects.filter(organization_id=organization.pk).latest("tree_size").tree_size == len(
        leaves
    )
    assert verify_organization(organization.pk).ok
