from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from iam.models import APIKey
from tests.api.conftest import ApiClient, api_key_for
from tests.factories import ApplicationFactory, ProjectFactory

KEYS = "/iam/v1alpha1/api-keys"
LOGS = "/iam/v1alpha1/logs"


def create(api, **body):
    return api.post(KEYS, json.dumps(body), content_type="application/json; charset=utf-8")


@pytest.mark.django_db
def test_create_api_key_returns_the_secret_once_and_records_create_api_key(owner_api, acme, owner, project):
    application = ApplicationFactory(organization=acme)
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    response = create(
        owner_api,
        application_id=str(application.pk),
        description="ci",
        default_project_id=str(project.pk),
        expires_at=expires,
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["application_id"] == str(application.pk)
    assert body["default_project_id"] == str(project.pk)
    uuid.UUID(body["secret_key"])
    key = APIKey.objects.get(access_key=body["access_key"])
    assert key.creation_ip == "127.0.0.1"
    event = Event.objects.get(method_name="CreateAPIKey", resources__has_item={"id": key.access_key})
    assert (event.principal_id, event.status_code) == (owner.pk, 200)
    assert event.request_id == response["X-Request-Id"]
    assert "secret_key" not in owner_api.get(f"{KEYS}/{key.access_key}").json()


@pytest.mark.django_db
def test_create_api_key_validates_its_body(owner_api, acme, outsider):
    globex = outsider.owned_organizations.get()
    foreign_app = ApplicationFactory(organization=globex)
    assert create(owner_api).json()["details"][0]["argument_name"] == "user_id"
    both = create(owner_api, user_id=str(uuid.uuid4()), application_id=str(uuid.uuid4()))
    assert both.status_code == 400
    past = create(owner_api, user_id=str(acme.owner_id), expires_at="2020-01-01 00:00:00+00:00")
    assert past.json()["details"][0]["argument_name"] == "expires_at"
    assert create(owner_api, application_id=str(foreign_app.pk)).status_code == 404
    assert create(owner_api, user_id=str(outsider.pk)).status_code == 404
    foreign_project = ProjectFactory(organization=globex)
    assert (
        create(owner_api, user_id=str(acme.owner_id), default_project_id=str(foreign_project.pk)).status_code
        == 404
    )
    assert owner_api.post(KEYS, "[1]", content_type="application/json").status_code == 400
    assert owner_api.post(KEYS, "{", content_type="application/json").status_code == 400
    assert APIKey.objects.filter(organization=globex).count() == 0


@pytest.mark.django_db
def test_delete_api_key_answers_204_and_records_delete_api_key(owner_api, acme, auditor):
    access_key, secret = api_key_for(auditor, acme)
    response = owner_api.delete(f"{KEYS}/{access_key}")
    assert response.status_code == 204
    assert ApiClient(secret).get("/audit-trail/v1alpha1/regions/fr-par/events").status_code == 401
    event = Event.objects.get(method_name="DeleteAPIKey")
    assert event.request_body == {"access_key": access_key}


@pytest.mark.django_db
def test_another_organizations_key_is_not_found(owner_api, outsider):
    globex = outsider.owned_organizations.get()
    access_key, _ = api_key_for(outsider, globex)
    assert owner_api.get(f"{KEYS}/{access_key}").json()["type"] == "not_found"
    assert owner_api.delete(f"{KEYS}/{access_key}").status_code == 404
    assert owner_api.get(f"{KEYS}/not-a-key").status_code == 404
    assert APIKey.objects.filter(access_key=access_key).exists()


@pytest.mark.django_db
def test_deleting_without_iam_write_is_refused_and_recorded(auditor_api, acme, owner_key, auditor):
    response = auditor_api.delete(f"{KEYS}/{owner_key[0]}")
    assert response.status_code == 403
    refusal = Event.objects.get(status_code=403)
    assert (refusal.method_name, refusal.principal_id) == ("DeleteAPIKey", auditor.pk)
    assert refusal.resources == [{"id": owner_key[0], "type": "iam_api_key"}]
    assert APIKey.objects.filter(access_key=owner_key[0]).exists()


@pytest.mark.django_db
def test_list_api_keys_pages_and_filters(
    owner_api, acme, owner, auditor, owner_key, django_assert_num_queries
):
    application = ApplicationFactory(organization=acme)
    for _ in range(3):
        api_key_for(application, acme)
    auditor_access, _ = api_key_for(auditor, acme)
    with django_assert_num_queries(3):  # key, page, count (the owner needs no grants query)
        body = owner_api.get(KEYS, {"page_size": 2, "page": 2, "order_by": "created_at_asc"}).json()
    assert body["total_count"] == 5
    assert len(body["api_keys"]) == 2
    assert owner_api.get(KEYS, {"bearer_type": "application"}).json()["total_count"] == 3
    assert (
        owner_api.get(KEYS, {"user_id": str(auditor.pk)}).json()["api_keys"][0]["access_key"]
        == auditor_access
    )
    assert owner_api.get(KEYS, {"editable": "False"}).json()["total_count"] == 0
    assert owner_api.get(KEYS, {"editable": "True", "expired": "false"}).json()["total_count"] == 5
    assert owner_api.get(KEYS, {"page_size": "101"}).status_code == 400


@pytest.mark.django_db
def test_list_logs_filters_and_orders_iam_changes(owner_api, acme, auditor, owner_key):
    access_key, _ = api_key_for(auditor, acme)
    owner_api.delete(f"{KEYS}/{access_key}")
    logs = owner_api.get(LOGS).json()
    assert logs["total_count"] == 3
    assert [log["action"] for log in logs["logs"]] == ["created", "created", "deleted"]  # oldest first
    deleted = owner_api.get(LOGS, {"action": "deleted", "resource_type": "unknown_resource_type"}).json()
    assert [log["resource_id"] for log in deleted["logs"]] == [access_key]
    assert owner_api.get(LOGS, {"search": access_key}).json()["total_count"] == 2
    newest = owner_api.get(LOGS, {"order_by": "created_at_desc", "page_size": 1}).json()
    assert newest["logs"][0]["action"] == "deleted"
    assert newest["total_count"] == 3
    assert owner_api.get(LOGS, {"action": "exploded"}).status_code == 400
    log = owner_api.get(f"{LOGS}/{deleted['logs'][0]['id']}").json()
    assert log == deleted["logs"][0]
    assert owner_api.get(f"{LOGS}/nope").status_code == 404


@pytest.mark.django_db
def test_logs_are_refused_without_iam_or_audit_trail_reading_rights(member_key, acme):
    response = ApiClient(member_key[1]).get(LOGS)
    assert response.status_code == 403
    assert response.json()["type"] == "permissions_denied"
    assert Event.objects.get(status_code=403).locality == "global"
