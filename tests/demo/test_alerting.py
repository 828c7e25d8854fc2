from __future__ import annotations

import pytest

from alerts.models import Alert, AlertRuleSetting
from audit.services import Actor
from demo.alerting import seed_alerts
from iam.services import api_key_create


@pytest.mark.django_db
def test_the_demo_seed_fires_alerts_and_seeding_twice_adds_none(
    acme, owner, django_capture_on_commit_callbacks
):
    api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="demo")
    with django_capture_on_commit_callbacks(execute=True):
        alerts = seed_alerts(acme)
    assert {a.rule_key for a in alerts} == {"ApiKeyCreated", "HttpForbiddenErrorRateHigh"}
    assert AlertRuleSetting.objects.filter(organization=acme, enabled=True).count() == 4
    assert set(Alert.objects.values_list("notification_status", flat=True)) == {Alert.Notification.SENT}
    with django_capture_on_commit_callbacks(execute=True):
        assert len(seed_alerts(acme)) == len(alerts)


@pytest.mark.django_db
def test_the_demos_alerts_fired_when_their_events_came_in_not_at_seeding_time(
    acme, owner, django_capture_on_commit_callbacks
):
    api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="demo")
    with django_capture_on_commit_callbacks(execute=True):
        seed_alerts(acme)
    alerts = list(Alert.objects.filter(organization=acme))
    assert len(alerts) >= 2
    for alert in alerts:
        assert alert.fired_at == alert.window_end
    assert len({alert.fired_at for alert in alerts}) == len(alerts)
