"""System events (reference §2.3, §2.4, §3.5): export runs (cron) and alert e-mails
(notification), recorded through the door, listed by ListSystemEvents and ListCombinedEvents."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from alerts.models import NotificationContact
from audit.models import SystemEvent
from audit.services import Actor
from exports import services
from iam.models import Organization
from iam.services import api_key_create
from tests.alerts.conftest import activate
from tests.api.conftest import ApiClient, api_key_for

pytestmark = pytest.mark.django_db

BASE = "/audit-trail/v1alpha1/regions/fr-par"


def _run_export(organization):
    job = services.export_job_create(
        actor=Actor.system(),
        organization=organization,
        region="fr-par",
        name="nightly",
        bucket="b-1",
        s3_region="fr-par",
    )
    services.export_job_run(job_id=job.pk)
    return job


def test_an_export_run_is_listed_by_list_system_events(auditor, acme, export_dir, outsider):
    job = _run_export(acme)
    _run_export(Organization.objects.get(owner=outsider))
    api = ApiClient(api_key_for(auditor, acme)[1])
    body = api.get(f"{BASE}/system-events").json()
    [event] = body["events"]
    assert event["kind"] == "cron" and event["organization_id"] == str(acme.pk)
    assert event["locality"] == "fr-par" and event["source"] == services.SOURCE
    assert (
        event["resources"][0]["id"] == str(job.pk)
        and event["resources"][0]["type"] == "audit_trail_export_job"
    )
    assert api.get(BASE.replace("fr-par", "nl-ams") + "/system-events").json()["events"] == []


def test_combined_events_carry_the_system_items(auditor, acme, export_dir):
    _run_export(acme)
    api = ApiClient(api_key_for(auditor, acme)[1])
    items = api.get(f"{BASE}/combined-events").json()["events"]
    kinds = [next(iter(item)) for item in items]
    assert "system" in kinds and "api" in kinds  # the run, and the job's creation
    system = next(item["system"] for item in items if "system" in item)
    assert system["kind"] == "cron"
    only_jobs = api.get(f"{BASE}/combined-events", {"resource_type": "audit_trail_export_job"}).json()[
        "events"
    ]
    assert {next(iter(item)) for item in only_jobs} == {"system", "api"}
    assert all(
        "system" not in i
        for i in api.get(f"{BASE}/combined-events", {"resource_type": "iam_user"}).json()["events"]
    )


def test_the_sdk_reads_system_events(auditor, acme, export_dir, live_server):
    from scaleway import Client
    from scaleway.audit_trail.v1alpha1 import AuditTrailV1Alpha1API, SystemEventKind

    _run_export(acme)
    access, secret = api_key_for(auditor, acme)
    client = Client(
        access_key=access, secret_key=secret, api_url=live_server.url, default_organization_id=str(acme.pk)
    )
    events = AuditTrailV1Alpha1API(client).list_system_events(region="fr-par").events
    # live_server commits: the run enqueued at creation ran too (the immediate backend).
    assert events and {e.kind for e in events} == {SystemEventKind.CRON}
    assert (
        events[0].organization_id == str(acme.pk) and events[0].resources[0].type_ == "audit_trail_export_job"
    )


def test_an_alert_email_sent_is_a_notification_system_event(acme, owner, django_capture_on_commit_callbacks):
    NotificationContact.objects.create(organization=acme, email="sec@acme.test", security=True)
    activate(acme, "ApiKeyCreated")
    with django_capture_on_commit_callbacks(execute=True):
        api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="deploy")
    [event] = SystemEvent.objects.filter(organization_id=acme.pk)
    assert event.kind == "notification" and event.resources[0]["name"] == "ApiKeyCreated"


def test_system_events_are_append_only(acme, export_dir):
    _run_export(acme)
    event = SystemEvent.objects.get()
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        SystemEvent.objects.all().delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_systemevent SET kind = 'cron'")
