from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from alerts.models import Alert
from alerts.services import alerts_evaluate, custom_alert_rule_create
from alerts.tasks import alerts_evaluate_task
from audit.services import Actor, build_event, record_many
from iam.services import api_key_create, api_key_delete
from tests.alerts.conftest import activate, forbidden_events

pytestmark = pytest.mark.django_db

RATE = "HttpForbiddenErrorRateHigh"


def _alerts(organization, rule_key=RATE):
    return list(Alert.objects.filter(organization=organization, rule_key=rule_key).order_by("window_end"))


def test_21_forbidden_requests_within_5_minutes_fire_exactly_once(acme, django_capture_on_commit_callbacks):
    activate(acme, RATE)
    with django_capture_on_commit_callbacks(execute=True):
        events = forbidden_events(acme, 21, spacing=timedelta(seconds=10))  # 200 s from first to last
    [alert] = _alerts(acme)
    assert alert.matched_count == 21
    assert alert.trigger_event_id == events[-1].id
    assert alert.window_start == events[0].recorded_at
    assert alert.window_end == events[-1].recorded_at
    assert alert.severity == "critical"
    assert len(alert.sample_event_ids) == 10


def test_20_forbidden_requests_do_not_fire(acme, django_capture_on_commit_callbacks):
    activate(acme, RATE)
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 20, spacing=timedelta(seconds=10))
    assert _alerts(acme) == []


def test_21_forbidden_requests_spread_over_more_than_5_minutes_do_not_fire(
    acme, django_capture_on_commit_callbacks
):
    activate(acme, RATE)
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 21, spacing=timedelta(seconds=16))  # 320 s
    assert _alerts(acme) == []


def test_one_long_burst_gives_one_alert_and_a_burst_after_the_cool_down_fires_again(
    acme, django_capture_on_commit_callbacks
):
    activate(acme, RATE)
    start = timezone.now() - timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        # 60 refusals in 5 minutes: one burst, one alert.
        forbidden_events(acme, 60, start=start, spacing=timedelta(seconds=5))
    assert len(_alerts(acme)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 21, start=start + timedelta(minutes=40), spacing=timedelta(seconds=2))
    first, second = _alerts(acme)
    assert second.window_end - first.window_end > timedelta(minutes=15)


def test_events_arriving_one_by_one_fire_once(acme, django_capture_on_commit_callbacks):
    activate(acme, RATE)
    start = timezone.now() - timedelta(minutes=30)
    for i in range(30):
        with django_capture_on_commit_callbacks(execute=True):
            forbidden_events(acme, 1, start=start + i * timedelta(seconds=3))
    assert len(_alerts(acme)) == 1


def test_late_events_count_in_their_own_window(acme, django_capture_on_commit_callbacks):
    activate(acme, RATE)
    start = timezone.now() - timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 15, start=start, spacing=timedelta(seconds=5))
        forbidden_events(acme, 10, start=timezone.now() - timedelta(minutes=1), spacing=timedelta(seconds=1))
    assert _alerts(acme) == []
    # Six more refusals that happened three hours ago arrive now: that window has 21.
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 6, start=start + timedelta(seconds=76), spacing=timedelta(seconds=1))
    [alert] = _alerts(acme)
    assert alert.matched_count == 21
    assert alert.window_start == start


def test_an_inactive_rule_never_fires(acme, owner, django_capture_on_commit_callbacks):
    activate(acme, "ApiKeyDeleted")  # another rule is active, so evaluation does run
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 50, spacing=timedelta(seconds=1))
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="ci")
    assert Alert.objects.filter(organization=acme).count() == 0


def test_a_rule_active_in_another_region_does_not_fire_here(acme, django_capture_on_commit_callbacks):
    activate(acme, RATE, region="nl-ams")
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 30, spacing=timedelta(seconds=1), region="fr-par")
    assert _alerts(acme) == []


def test_running_the_evaluation_task_twice_gives_one_alert(acme, owner, django_capture_on_commit_callbacks):
    activate(acme, RATE, "ApiKeyCreated")
    with django_capture_on_commit_callbacks(execute=True):
        events = forbidden_events(acme, 25, spacing=timedelta(seconds=1))
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="ci")
    assert Alert.objects.filter(organization=acme).count() == 2
    ids = [str(e.id) for e in events]
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_task.enqueue(str(acme.pk), "fr-par", ids)
        alerts_evaluate_task.enqueue(str(acme.pk), "fr-par", ids)
        assert alerts_evaluate(organization_id=acme.pk, region="fr-par", event_ids=ids) == []
    assert Alert.objects.filter(organization=acme).count() == 2


def test_api_key_rules_fire_once_per_matching_event(acme, owner, django_capture_on_commit_callbacks):
    activate(acme, "ApiKeyCreated", "ApiKeyDeleted")
    with django_capture_on_commit_callbacks(execute=True):
        key, _ = api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="a")
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="b")
        api_key_delete(actor=Actor.of(owner), key=key)
    assert len(_alerts(acme, "ApiKeyCreated")) == 2
    [deleted] = _alerts(acme, "ApiKeyDeleted")
    assert deleted.matched_count == 1
    assert deleted.window_start == deleted.window_end


def test_a_fired_alert_without_security_contact_says_so(acme, owner, django_capture_on_commit_callbacks):
    activate(acme, "ApiKeyCreated")
    with django_capture_on_commit_callbacks(execute=True):
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="ci")
    [alert] = _alerts(acme, "ApiKeyCreated")
    assert alert.notification_status == Alert.Notification.NO_RECIPIENTS
    assert mail.outbox == []


def test_a_custom_threshold_rule_fires_on_its_cel_expression(acme, owner, django_capture_on_commit_callbacks):
    rule = custom_alert_rule_create(
        actor=Actor.of(owner),
        organization=acme,
        region="fr-par",
        name="Secret probing",
        query='status_code == 403 && product_name == "secret-manager" && method_name == "GetSecret"',
        occurrences=3,
        evaluation_window=timedelta(minutes=1),
        severity="error",
    )
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 3, spacing=timedelta(seconds=5), method_name="ListSecrets")
        forbidden_events(acme, 2, spacing=timedelta(seconds=5))
    assert _alerts(acme, rule.key) == []
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 3, spacing=timedelta(seconds=5), start=timezone.now() - timedelta(minutes=10))
    [alert] = _alerts(acme, rule.key)
    assert (alert.matched_count, alert.severity, alert.custom_rule) == (3, "error", rule)


def test_a_batch_spanning_many_organizations_checks_their_rules_in_one_query(
    acme, django_capture_on_commit_callbacks
):
    """A bulk batch spans many organizations and regions: the receivers find the active rules of
    all of them in one query, evaluate only where a rule is active, and seal per organization."""
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext
    from django_tasks_db.models import DBTaskResult

    from tests.factories import OrganizationFactory

    tenants = [acme, *(OrganizationFactory(name=f"Tenant {i}") for i in range(12))]
    activate(tenants[3], RATE, region="nl-ams")
    actor = Actor(principal_type="anonymous", source_ip="203.0.113.7", user_agent="curl/8")
    batch = [
        build_event(
            organization_id=organization.pk,
            actor=actor,
            product_name="secret-manager",
            service_name="scaleway.secret_manager.v1beta1.Api",
            method_name="GetSecret",
            locality=region,
            status_code=403,
        )
        for organization in tenants
        for region in ("fr-par", "nl-ams", "pl-waw")
        for _ in range(2)
    ]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert len(record_many(batch)) == len(batch)
    database_queue = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    with (
        override_settings(TASKS=database_queue, INTEGRITY_SEAL_ON_RECORD=True),
        CaptureQueriesContext(connection) as queries,
    ):
        for callback in callbacks:
            callback()
    assert sum('"alerts_' in query["sql"] for query in queries) == 1  # the rules of all 39 pairs
    evaluations = DBTaskResult.objects.filter(task_path="alerts.tasks.alerts_evaluate_task")
    assert [tuple(task.args_kwargs["args"][:2]) for task in evaluations] == [(str(tenants[3].pk), "nl-ams")]
    assert sorted(evaluations.get().args_kwargs["args"][2]) == sorted(
        str(e.id) for e in batch if e.organization_id == tenants[3].pk and e.region == "nl-ams"
    )
    seals = DBTaskResult.objects.filter(task_path="integrity.tasks.seal_task")
    assert sorted(
        (task.args_kwargs["args"][0], len(task.args_kwargs["args"][1])) for task in seals
    ) == sorted((str(organization.pk), 6) for organization in tenants)
