"""Heavy reads on the standby (core.replication), against a real pg_auto_failover cluster:
a list read goes to the standby, a read after a write in the same request stays on the
primary, and with the standby stopped the read falls back to the primary at once."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from audit.selectors import EventQuery, event_queryset
from core import replication
from tests.api.conftest import ApiClient, api_key_for, make_events
from tests.factories import OrganizationFactory, UserFactory
from tests.ha.conftest import use_replica

pytestmark = pytest.mark.ha


def listed(organization) -> tuple[str, set]:
    """What the Events page's list reads: the alias it went to, and the events' ids."""
    qs = event_queryset(organization_id=organization.pk, query=EventQuery(region="fr-par"), replica=True)
    return qs.db, set(qs.values_list("id", flat=True))


def in_recovery(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def wait_replayed(cluster) -> None:
    """Until the standby has replayed everything the primary wrote so far."""
    with psycopg.connect(cluster.conninfo(cluster.primary_port), autocommit=True) as primary:
        (target,) = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + 30
    with psycopg.connect(cluster.conninfo(cluster.standby_port), autocommit=True) as standby:
        while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s", [target]).fetchone()[0]:
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.05)


@contextmanager
def replay_paused(cluster):
    """The standby receives the primary's WAL but does not apply it: it shows the past."""
    with psycopg.connect(cluster.conninfo(cluster.standby_port), autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")


@pytest.fixture
def organization(on_cluster):
    owner = UserFactory()
    organization = OrganizationFactory(owner=owner)
    organization.test_owner = owner
    return organization


def test_a_list_read_goes_to_the_standby_and_the_page_says_how_far_behind_it_is(
    on_cluster, organization, monkeypatch
):
    made = {e.id for e in make_events(organization, 3, start=None)}
    _, secret = api_key_for(organization.test_owner, organization)  # recorded as an event too
    wait_replayed(on_cluster)
    seen = listed(organization)[1]
    assert made < seen
    with replay_paused(on_cluster):
        newer = make_events(organization, 1)[0]
        replication.begin()  # a new request, which has written nothing
        alias, ids = listed(organization)
        assert alias == "replica" and in_recovery(alias)
        assert ids == seen  # the standby has not replayed the newest event yet

        # The console's Events page reads there too, and says as of when. (Any lag shows here.)
        monkeypatch.setattr(replication, "LAG_SHOWN_AFTER", timedelta(0))
        client = Client()
        client.force_login(organization.test_owner)
        response = client.get(reverse("audit:events"), {"range": "24h"})
        assert response.status_code == 200
        assert {e.id for e in response.context["page"].events} == seen
        assert response.context["as_of"] is not None
        assert b"as of <time" in response.content
        # The facets' own request (the panel's grid) counts on the standby too: the same events.
        facets = client.get(reverse("audit:event_facets"), {"range": "24h"}, headers={"HX-Request": "true"})
        assert facets.status_code == 200 and facets.context["facets"].sampled == len(seen)

        # So does the API's ListEvents.
        listing = ApiClient(secret).get("/audit-trail/v1alpha1/regions/fr-par/events")
        assert listing.status_code == 200
        assert {e["id"] for e in listing.json()["events"]} == {str(i) for i in seen}

    wait_replayed(on_cluster)
    response = client.get(reverse("audit:events"), {"range": "24h"})
    assert {e.id for e in response.context["page"].events} == seen | {newer.id}
    assert response.context["as_of"] is None  # caught up: nothing to say
    assert b"as of <time" not in response.content
    listing = ApiClient(secret).get("/audit-trail/v1alpha1/regions/fr-par/events")
    assert {e["id"] for e in listing.json()["events"]} == {str(i) for i in seen | {newer.id}}


def test_a_read_after_a_write_in_the_same_request_goes_to_the_primary(on_cluster, organization):
    make_events(organization, 2)
    wait_replayed(on_cluster)
    with replay_paused(on_cluster):
        replication.begin()
        assert listed(organization)[0] == "replica"
        written = make_events(organization, 1)[0]  # the request writes...
        alias, ids = listed(organization)  # ...and reads its write back
        assert alias == "default" and not in_recovery(alias)
        assert written.id in ids
        replication.begin()  # the next request reads the standby again
        assert listed(organization)[0] == "replica"
        assert written.id not in listed(organization)[1]


def test_with_the_standby_stopped_the_read_falls_back_to_the_primary(on_cluster, organization):
    standby = on_cluster.node_of_port(on_cluster.standby_port)
    use_replica(on_cluster, standby.port)  # a replica URL naming the standby alone
    replication.begin()
    assert listed(organization)[0] == "replica"
    on_cluster.stop_node(standby)
    try:
        connections["replica"].close()
        newest = make_events(organization, 1)[0]
        replication.begin()
        began = time.monotonic()
        alias, ids = listed(organization)
        assert alias == "default" and newest.id in ids
        assert time.monotonic() - began < 3  # the replica's short connect timeout
        # The failure is remembered: the next reads do not wait for the dead standby again.
        began = time.monotonic()
        for _ in range(5):
            assert listed(organization)[0] == "default"
        assert time.monotonic() - began < 0.5

        # With both hosts and prefer-standby (as deployed), libpq itself lands on the primary,
        # which is never "behind".
        use_replica(on_cluster, "prefer-standby")
        alias, ids = listed(organization)
        assert alias == "replica" and not in_recovery(alias) and newest.id in ids
        assert replication.replica_lag() == timedelta(0)

        client = Client()
        client.force_login(organization.test_owner)
        response = client.get(reverse("audit:events"), {"range": "24h"})
        assert response.status_code == 200
        assert newest.id in {e.id for e in response.context["page"].events}
    finally:
        on_cluster.start_again(standby)
