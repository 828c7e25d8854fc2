"""Two db_workers evaluating one burst at the same moment (each holding a task for half of it):
the alert fires once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import Alert
from alerts.services import alerts_evaluate
from tests.alerts.conftest import activate, forbidden_events

RATE = "HttpForbiddenErrorRateHigh"


def _at_once(calls: list) -> list:
    """Run each call in a thread of its own, released together, each on its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = calls[i]()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_the_same_burst_at_once_fire_one_alert(acme):
    # Recorded while the rule is off (nothing evaluated), then switched on: the race alone decides.
    events = forbidden_events(
        acme, 30, start=timezone.now() - timedelta(minutes=10), spacing=timedelta(seconds=2)
    )
    activate(acme, RATE)
    ids = [e.id for e in events]

    created = _at_once([lambda: alerts_evaluate(organization_id=acme.pk, region="fr-par", event_ids=ids)] * 2)

    assert sum(len(c) for c in created) == 1
    assert Alert.objects.filter(organization=acme, rule_key=RATE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_two_bursts_within_the_cool_down_at_once_fire_one_alert(acme):
    """Two bursts six minutes apart, each a task of its own on a worker of its own: each alone
    would fire, but the second falls in the first's 15-minute cool-down, whichever commits first.
    Only the per-rule lock makes the second evaluation see the first one's alert."""
    start = timezone.now() - timedelta(minutes=30)
    first = forbidden_events(acme, 25, start=start, spacing=timedelta(seconds=2))
    second = forbidden_events(acme, 25, start=start + timedelta(minutes=6), spacing=timedelta(seconds=2))
    activate(acme, RATE)

    created = _at_once(
        [
            lambda burst=burst: alerts_evaluate(
                organization_id=acme.pk, region="fr-par", event_ids=[e.id for e in burst]
            )
            for burst in (first, second)
        ]
    )

    assert sum(len(c) for c in created) == 1
    assert Alert.objects.filter(organization=acme, rule_key=RATE).count() == 1
