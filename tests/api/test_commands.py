from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import Event, PrincipalType
from iam.models import APIKey, Application
from iam.permissions import has_permission
from tests.api.conftest import ApiClient, wire_event


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_create_api_key_prints_a_working_key_audited_as_scaleway(acme, auditor):
    out = run("create_api_key", "--email", auditor.email, "--org", "Acme")
    access_key = out.split("Access key: ")[1].split()[0]
    secret = out.split("Secret key: ")[1].split()[0]
    key = APIKey.objects.get(access_key=access_key)
    assert key.user == auditor
    assert ApiClient(secret).get("/audit-trail/v1alpha1/regions/fr-par/events").status_code == 200
    event = Event.objects.get(method_name="CreateAPIKey")
    assert (event.principal_type, event.principal_name, event.principal_id) == (
        PrincipalType.SYSTEM,
        "Scaleway",
        None,
    )


@pytest.mark.django_db
def test_create_api_key_for_an_application_with_permission_sets(acme, owner, tmp_path):
    out = run(
        "create_api_key",
        "--email",
        owner.email,
        "--org",
        str(acme.pk),
        "--application",
        "log-shipper",
        "--permission-set",
        "AuditTrailEventsWriter",
    )
    application = Application.objects.get(organization=acme, name="log-shipper")
    assert has_permission(application, acme, "audit_trail:ingest")
    assert not has_permission(application, acme, "audit_trail:read")
    secret = out.split("Secret key: ")[1].split()[0]
    response = ApiClient(secret).post(
        "/x/audit-trail/v1/events", json.dumps([wire_event(acme)]), content_type="application/json"
    )
    assert response.json()["created"] == 1
    methods = set(
        Event.objects.filter(principal_type=PrincipalType.SYSTEM).values_list("method_name", flat=True)
    )
    assert methods == {"CreateApplication", "CreatePolicy", "CreateAPIKey"}


@pytest.mark.django_db
def test_create_api_key_refuses_strangers_and_unknown_permission_sets(acme, outsider, auditor):
    with pytest.raises(CommandError, match="not a member"):
        run("create_api_key", "--email", outsider.email, "--org", "Acme")
    with pytest.raises(CommandError, match="Unknown permission set"):
        run("create_api_key", "--email", auditor.email, "--org", "Acme", "--permission-set", "God")
    with pytest.raises(CommandError, match="No organization"):
        run("create_api_key", "--email", auditor.email, "--org", "Initech")
    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_ingest_command_stores_a_file_once(acme, tmp_path):
    events = [wire_event(acme) for _ in range(1500)]  # more than one API batch
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events))
    assert "1500 events read, 1500 stored" in run("ingest", str(path), "--org", "Acme")
    assert "1500 events read, 0 stored, 1500 already present" in run("ingest", str(path), "--org", "Acme")
    assert Event.objects.filter(product_name="secret-manager").count() == 1500


@pytest.mark.django_db
def test_ingest_command_stores_nothing_when_one_event_is_bad(acme, tmp_path):
    events = [wire_event(acme) for _ in range(1200)]
    events[1100]["status_code"] = "OK"
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"events": events}))
    err = StringIO()
    with pytest.raises(CommandError, match="1 error"):
        call_command("ingest", str(path), "--org", "Acme", stdout=StringIO(), stderr=err)
    assert "events[1100].status_code" in err.getvalue()
    assert not Event.objects.filter(product_name="secret-manager").exists()
