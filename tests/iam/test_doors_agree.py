"""The console and the API ask one permission check, so each persona gets the same answer from
both doors: on IAM logs (the list and one entry) and on creating an API key (for oneself, for an
application, for another member)."""

from __future__ import annotations

import json

import pytest

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.models import APIKey
from tests.api.conftest import ApiClient, api_key_for
from tests.factories import ApplicationFactory
from tests.iam.conftest import client_for

PERSONAS = ["owner", "iam_manager", "auditor", "member_without_rights", "removed_member"]


@pytest.fixture
def doors(request, acme):
    """For a persona: (its console client, its API client), both acting in Acme."""

    def open_doors(persona: str):
        user = request.getfixturevalue(persona)
        _, secret = api_key_for(user, acme)
        return user, client_for(user), ApiClient(secret)

    return open_doors


def _allowed(status: int) -> bool:
    assert status in (200, 302, 403, 404), status
    return status in (200, 302)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_iam_logs_answer_the_same_in_the_console_and_the_api(doors, acme, owner, persona):
    services.application_create(actor=Actor.of(owner), organization=acme, name="bot")
    log = Event.objects.get(organization_id=acme.pk, method_name="CreateApplication")
    _user, console, api = doors(persona)

    console_list = console.get("/iam/logs/").status_code
    api_list = api.get("/iam/v1alpha1/logs").status_code
    assert _allowed(console_list) == _allowed(api_list), (console_list, api_list)

    console_one = console.get(f"/iam/logs/{log.pk}/").status_code
    api_one = api.get(f"/iam/v1alpha1/logs/{log.pk}").status_code
    assert _allowed(console_one) == _allowed(api_one), (console_one, api_one)


@pytest.mark.django_db
def test_an_auditor_reads_iam_logs_through_both_doors(doors, acme, owner):
    services.application_create(actor=Actor.of(owner), organization=acme, name="bot")
    _user, console, api = doors("auditor")
    assert console.get("/iam/logs/").status_code == 200
    body = api.get("/iam/v1alpha1/logs").json()
    assert "application" in {log["resource_type"] for log in body["logs"]}


def _console_creates(console, bearer: str) -> bool:
    before = APIKey.objects.count()
    response = console.post("/iam/api-keys/create/", {"bearer": bearer})
    assert response.status_code in (
        200,
        302,
        403,
        404,
    )  # 302: created; 404: a removed member has no organization
    return APIKey.objects.count() > before


def _api_creates(api, **bearer: str) -> bool:
    response = api.post("/iam/v1alpha1/api-keys", json.dumps(bearer), content_type="application/json")
    return _allowed(response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_creating_an_api_key_answers_the_same_in_the_console_and_the_api(
    doors, acme, owner, iam_manager, persona
):
    application = ApplicationFactory(organization=acme, name="ci")
    user, console, api = doors(persona)
    other = iam_manager if user == owner else owner

    for_self = (_console_creates(console, "me"), _api_creates(api, user_id=str(user.pk)))
    for_app = (
        _console_creates(console, f"application:{application.pk}"),
        _api_creates(api, application_id=str(application.pk)),
    )
    for_other = (_console_creates(console, f"user:{other.pk}"), _api_creates(api, user_id=str(other.pk)))

    assert for_self[0] == for_self[1]
    assert for_app[0] == for_app[1]
    assert for_other == (False, False)  # nobody mints a key that acts as someone else
    assert for_self[0] == (persona in ("owner", "iam_manager"))


@pytest.mark.django_db
def test_an_iam_manager_cannot_mint_an_api_key_in_the_owners_name(acme, owner, iam_manager):
    _, secret = api_key_for(iam_manager, acme)
    body = json.dumps({"user_id": str(owner.pk), "description": "totally the owner"})

    response = ApiClient(secret).post("/iam/v1alpha1/api-keys", body, content_type="application/json")

    assert response.status_code == 403
    assert response.json() == {
        "message": "insufficient permissions",
        "type": "permissions_denied",
        "details": [{"resource": "iam", "action": "write"}],
    }
    assert not APIKey.objects.filter(user=owner).exists()
    refusal = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert (refusal.method_name, refusal.principal_id) == ("CreateAPIKey", iam_manager.pk)
    assert refusal.resources[0]["id"] == str(owner.pk)


@pytest.mark.django_db
def test_the_service_refuses_a_key_for_another_user_whoever_calls_it(acme, owner, iam_manager):
    with pytest.raises(services.IamPermissionDenied):
        services.api_key_create(actor=Actor.of(iam_manager), organization=acme, user=owner)
    application = ApplicationFactory(organization=acme)
    with pytest.raises(services.IamPermissionDenied):
        services.api_key_create(actor=Actor.of(application), organization=acme, user=owner)
    key, _ = services.api_key_create(actor=Actor.of(application), organization=acme, application=application)
    assert key.application == application
    # The platform (operators' commands, the demo) still creates keys for the members it names.
    key, _ = services.api_key_create(actor=Actor.system(), organization=acme, user=owner)
    assert key.user == owner
