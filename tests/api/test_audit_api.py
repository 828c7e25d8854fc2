from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from tests.api.conftest import ApiClient, api_key_for, make_events

EVENTS = "/audit-trail/v1alpha1/regions/fr-par/events"


@pytest.mark.django_db
def test_list_events_answers_scaleways_event_shape(auditor_api, acme, project):
    [event] = make_events(
        acme, 1, project_id=project.pk, resources=[{"id": "s1", "type": "secret_manager_secret"}]
    )
    response = auditor_api.get(EVENTS, {"organization_id": str(acme.pk), "product_name": "secret-manager"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    [data] = response.json()["events"]
    assert data["id"] == str(event.id)
    assert data["recorded_at"].endswith("Z")
    assert data["principal"] == {"id": str(event.principal_id)}
    assert data["project_id"] == str(project.pk)
    assert data["resources"] == [{"id": "s1", "type": "secret_manager_secret"}]
    assert "next_page_token" not in response.json()


@pytest.mark.django_db
def test_list_events_costs_four_queries(auditor_api, acme, django_assert_num_queries):
    make_events(acme, 30)
    with django_assert_num_queries(4):  # key, membership, rules, events
        response = auditor_api.get(EVENTS, {"page_size": 10})
    assert len(response.json()["events"]) == 10


@pytest.mark.django_db
def test_space_separated_dates_true_booleans_and_unknown_enums_are_understood(auditor_api, acme):
    now = timezone.now()
    make_events(acme, 3, start=now - timedelta(hours=3))
    make_events(acme, 2, start=now - timedelta(minutes=10))
    after = str(now - timedelta(hours=4))  # "2026-01-01 10:00:00.123+00:00", as the SDK sends it
    response = auditor_api.get(
        EVENTS,
        {
            "recorded_after": after,
            "resource_type": "unknown_type",
            "status": "0",
            "project_id": "",
            "order_by": "",
            "product_name": "secret-manager",
        },
    )
    assert response.status_code == 200, response.json()
    assert len(response.json()["events"]) == 5
    # default window: the last hour
    assert len(auditor_api.get(EVENTS, {"product_name": "secret-manager"}).json()["events"]) == 2


@pytest.mark.django_db
def test_bad_arguments_are_named_in_invalid_arguments(auditor_api):
    response = auditor_api.get(
        EVENTS, {"project_id": "nope", "page_size": "0", "recorded_after": "yesterday"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_arguments"
    assert {d["argument_name"] for d in body["details"]} == {"project_id", "page_size", "recorded_after"}


@pytest.mark.django_db
def test_a_foreign_page_token_is_refused(auditor_api, acme):
    make_events(acme, 5)
    token = auditor_api.get(EVENTS, {"page_size": 2}).json()["next_page_token"]
    assert auditor_api.get(EVENTS, {"page_size": 2, "page_token": token}).status_code == 200
    response = auditor_api.get(EVENTS, {"page_size": 2, "page_token": token, "method_name": "DeleteSecret"})
    assert response.status_code == 400
    assert response.json()["details"][0]["argument_name"] == "page_token"
    assert auditor_api.get(EVENTS, {"page_token": "garbage!"}).status_code == 400


@pytest.mark.django_db
def test_missing_or_unknown_token_is_denied_authentication(client):
    response = client.get(EVENTS)
    assert response.status_code == 401
    assert response.json() == {
        "message": "authentication is denied",
        "method": "api_key",
        "reason": "invalid_argument",
        "type": "denied_authentication",
    }
    response = ApiClient(str(uuid.uuid4())).get(EVENTS)
    assert response.status_code == 401
    assert response.json()["reason"] == "not_found"


@pytest.mark.django_db
def test_a_refused_call_is_recorded_as_a_403_event(member_key, acme, member_without_rights):
    response = ApiClient(member_key[1]).get(EVENTS, {"method_name": "CreateSecret"})
    assert response.status_code == 403
    assert response.json()["type"] == "permissions_denied"
    refusal = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert refusal.method_name == "ListEvents"
    assert refusal.principal_id == member_without_rights.pk
    assert refusal.request_body == {"method_name": "CreateSecret"}
    assert refusal.request_id == response["X-Request-Id"]


@pytest.mark.django_db
def test_another_organizations_id_is_refused(auditor_api, outsider):
    globex = outsider.owned_organizations.get()
    response = auditor_api.get(EVENTS, {"organization_id": str(globex.pk)})
    assert response.status_code == 403
    assert not Event.objects.filter(organization_id=globex.pk).exists()


@pytest.mark.django_db
def test_events_of_another_organization_never_show(auditor_api, outsider):
    globex = outsider.owned_organizations.get()
    make_events(globex, 3)
    assert auditor_api.get(EVENTS, {"product_name": "secret-manager"}).json()["events"] == []


@pytest.mark.django_db
def test_unknown_paths_and_trailing_slashes_answer_json_404(auditor_api):
    for path in (EVENTS + "/", "/audit-trail/v1alpha1/regions/fr-par/nope", "/iam/v1alpha1/nope"):
        response = auditor_api.get(path)
        assert response.status_code == 404
        assert response.json()["type"] == "not_found"


@pytest.mark.django_db
def test_a_wrong_method_answers_json_405(auditor_api):
    response = auditor_api.post(EVENTS, {}, content_type="application/json")
    assert response.status_code == 405
    assert response.json()["type"] == "method_not_allowed"


@pytest.mark.django_db
def test_rate_limit_answers_too_many_requests_with_retry_after(auditor_api, settings):
    settings.API_RATE_LIMIT = 2
    assert auditor_api.get(EVENTS).status_code == 200
    assert auditor_api.get(EVENTS).status_code == 200
    response = auditor_api.get(EVENTS)
    assert response.status_code == 429
    assert response.json()["type"] == "too_many_requests"
    assert 1 <= int(response["Retry-After"]) <= settings.API_RATE_LIMIT_WINDOW


@pytest.mark.django_db
def test_rate_limit_body_is_the_too_many_requests_shape_the_sdks_read(auditor_api, settings):
    """The JavaScript SDK builds its TooManyRequestsError only with a string help_message, and
    reads limit {quota, window_seconds}, reset_seconds and reset_at (sdk-client 1.3.3)."""
    settings.API_RATE_LIMIT = 1
    asked = datetime.now(UTC)
    auditor_api.get(EVENTS)
    response = auditor_api.get(EVENTS)
    assert response.status_code == 429
    body = response.json()
    assert body["type"] == "too_many_requests"
    assert isinstance(body["help_message"], str) and body["help_message"]
    assert body["limit"] == {"quota": 1, "window_seconds": settings.API_RATE_LIMIT_WINDOW}
    assert body["reset_seconds"] == body["retry_after"] == int(response["Retry-After"])
    reset_at = datetime.fromisoformat(body["reset_at"])
    assert asked < reset_at <= asked + timedelta(seconds=settings.API_RATE_LIMIT_WINDOW + 1)


@pytest.mark.django_db
def test_rate_limit_counts_per_api_key(auditor_key, auditor, acme, settings):
    settings.API_RATE_LIMIT = 1
    other = api_key_for(auditor, acme)
    assert ApiClient(auditor_key[1]).get(EVENTS).status_code == 200
    assert ApiClient(other[1]).get(EVENTS).status_code == 200
    assert ApiClient(auditor_key[1]).get(EVENTS).status_code == 429


@pytest.mark.django_db
def test_authentication_events_list_the_organizations_sign_ins(auditor_api, acme, auditor):
    from audit.models import AuthenticationEvent

    AuthenticationEvent.objects.create(
        organization_id=acme.pk,
        user_id=auditor.pk,
        email=auditor.email,
        result="failure",
        failure_reason="invalid_password",
        source_ip="192.0.2.1",
    )
    AuthenticationEvent.objects.create(organization_id=uuid.uuid4(), email="x@y.z", result="success")
    response = auditor_api.get("/audit-trail/v1alpha1/regions/fr-par/authentication-events")
    [event] = response.json()["events"]
    assert event["result"] == "failure"
    assert event["failure_reason"] == "invalid_password"
    assert event["resources"] == [{"id": str(auditor.pk), "type": "iam_user", "name": auditor.email}]
    assert (
        auditor_api.get("/audit-trail/v1alpha1/regions/nl-ams/authentication-events").json()["events"] == []
    )


@pytest.mark.django_db
def test_combined_events_merge_both_streams_by_time_across_pages(auditor_api, acme, auditor):
    from audit.models import AuthenticationEvent

    now = timezone.now()
    make_events(acme, 4, start=now - timedelta(minutes=40), step=timedelta(minutes=2))
    api_events = Event.objects.filter(organization_id=acme.pk)  # the auditor's CreateAPIKey too
    auth = [
        AuthenticationEvent.objects.create(
            organization_id=acme.pk,
            user_id=auditor.pk,
            email=auditor.email,
            result="success",
            recorded_at=now - timedelta(minutes=39 - 2 * i),
        )
        for i in range(3)
    ]
    seen, token = [], None
    while True:
        params = {"page_size": 3, "order_by": "recorded_at_asc"} | ({"page_token": token} if token else {})
        body = auditor_api.get("/audit-trail/v1alpha1/regions/fr-par/combined-events", params).json()
        seen += [("api", e["api"]["id"]) if "api" in e else ("auth", e["auth"]["id"]) for e in body["events"]]
        token = body.get("next_page_token")
        if not token:
            break
    expected = sorted(
        [(e.recorded_at, "api", str(e.id)) for e in api_events]
        + [(a.recorded_at, "auth", str(a.id)) for a in auth]
    )
    assert seen == [(kind, pk) for _, kind, pk in expected]


@pytest.mark.django_db
def test_products_list_what_the_organization_has_events_for(auditor_api, acme):
    make_events(acme, 1)
    make_events(acme, 1, method_name="DeleteSecret")
    make_events(
        acme,
        1,
        product_name="iam",
        service_name="scaleway.iam.v1alpha1.Api",
        method_name="CreateAPIKey",
        locality="global",
    )
    make_events(
        acme,
        1,
        product_name="kubernetes",
        service_name="scaleway.k8s.v1.Api",
        method_name="CreateCluster",
        locality="nl-ams",
    )
    body = auditor_api.get("/audit-trail/v1alpha1/regions/fr-par/products").json()
    assert body == {
        "products": [
            {
                "title": "IAM",
                "name": "iam",
                "services": [{"name": "scaleway.iam.v1alpha1.Api", "methods": ["CreateAPIKey"]}],
            },
            {
                "title": "Secret Manager",
                "name": "secret-manager",
                "services": [
                    {
                        "name": "scaleway.secret_manager.v1beta1.Api",
                        "methods": ["CreateSecret", "DeleteSecret"],
                    }
                ],
            },
        ],
        "total_count": 2,
    }


@pytest.mark.django_db
def test_product_titles_come_from_the_catalogue_and_unknown_products_show_their_name(auditor_api, acme):
    make_events(acme, 1, product_name="rdb", service_name="scaleway.rdb.v1.Api", method_name="CreateInstance")
    make_events(
        acme, 1, product_name="acme-billing", service_name="acme.billing.v1.Api", method_name="Charge"
    )
    body = auditor_api.get("/audit-trail/v1alpha1/regions/fr-par/products").json()
    titles = {p["name"]: p["title"] for p in body["products"]}
    assert titles["rdb"] == "Managed Database for PostgreSQL and MySQL"
    assert titles["acme-billing"] == "acme-billing"
