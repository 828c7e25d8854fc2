"""Acceptance: the official `scaleway` SDK, unchanged, against a live server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from scaleway import Client
from scaleway.audit_trail.v1alpha1 import AuditTrailV1Alpha1API, ListEventsRequestOrderBy, ResourceType
from scaleway.iam.v1alpha1 import IamV1Alpha1API
from scaleway_core.api import ScalewayException

from audit.models import Event
from audit.selectors import EARLIEST, EventQuery, event_queryset
from audit.services import Actor
from iam.models import APIKey
from iam.services import api_key_delete
from tests.api.conftest import make_events
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sdk_client(live_server, organization, key) -> Client:
    access_key, secret_key = key
    return Client(
        access_key=access_key,
        secret_key=secret_key,
        api_url=live_server.url,
        default_region="fr-par",
        default_organization_id=str(organization.pk),
    )


@pytest.fixture
def trail(acme, project, other_project, auditor_key, owner):
    """A varied trail over the last three hours: two projects, principals, methods, statuses."""
    now = timezone.now()
    alice = Actor(
        principal_type="user", principal_id=uuid.uuid4(), principal_name="alice", source_ip="192.0.2.10"
    )
    bob = Actor(
        principal_type="application", principal_id=uuid.uuid4(), principal_name="ci", source_ip="192.0.2.20"
    )
    secret = {"id": str(uuid.uuid4()), "type": "secret_manager_secret", "name": "db"}
    cluster = {"id": str(uuid.uuid4()), "type": "kube_cluster", "kube_cluster_info": {}}
    make_events(
        acme,
        6,
        start=now - timedelta(minutes=170),
        step=timedelta(minutes=20),
        actor=alice,
        project_id=project.pk,
        resources=[secret],
    )
    make_events(
        acme,
        5,
        start=now - timedelta(minutes=50),
        step=timedelta(minutes=7),
        actor=bob,
        project_id=other_project.pk,
        method_name="DeleteSecret",
        status_code=403,
        resources=[secret],
    )
    make_events(
        acme,
        4,
        start=now - timedelta(minutes=45),
        step=timedelta(minutes=9),
        actor=alice,
        product_name="kubernetes",
        service_name="scaleway.k8s.v1.Api",
        method_name="CreateCluster",
        locality="fr-par-2",
        resources=[cluster],
    )
    return {"alice": alice, "bob": bob, "secret": secret, "cluster": cluster, "now": now}


def ids(events) -> list[str]:
    return [str(e.id) for e in events]


def console_ids(organization, order="desc", **filters) -> list[str]:
    qs = event_queryset(organization_id=organization.pk, query=EventQuery(region="fr-par", **filters))
    ordering = ["recorded_at", "id"] if order == "asc" else ["-recorded_at", "-id"]
    return [str(pk) for pk in qs.order_by(*ordering).values_list("id", flat=True)]


def test_sdk_list_events_with_each_filter_matches_the_console(live_server, acme, project, auditor_key, trail):
    api = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
    now = trail["now"]
    after, before = now - timedelta(hours=3), now + timedelta(minutes=1)
    window = {"recorded_after": after, "recorded_before": before}
    cases = [
        ({}, {}),
        ({"project_id": str(project.pk)}, {"project_id": project.pk}),
        ({"status": 403}, {"status": 403}),
        ({"method_name": "DeleteSecret"}, {"method_name": "DeleteSecret"}),
        ({"principal_id": str(trail["alice"].principal_id)}, {"principal_id": trail["alice"].principal_id}),
        ({"resource_type": ResourceType.KUBE_CLUSTER}, {"resource_type": "kube_cluster"}),
        ({"resource_id": trail["secret"]["id"]}, {"resource_id": trail["secret"]["id"]}),
        (
            {"product_name": "kubernetes", "service_name": "scaleway.k8s.v1.Api"},
            {"product_name": "kubernetes", "service_name": "scaleway.k8s.v1.Api"},
        ),
        ({"source_ip": "192.0.2.20"}, {"source_ip": "192.0.2.20"}),
    ]
    for sdk_filters, console_filters in cases:
        response = api.list_events(page_size=1000, **window, **sdk_filters)
        expected = console_ids(acme, recorded_after=after, recorded_before=before, **console_filters)
        assert ids(response.events) == expected, sdk_filters
        assert expected, sdk_filters  # each filter selects something
    # the window alone, and the default window (the last hour)
    narrow = {"recorded_after": now - timedelta(minutes=100), "recorded_before": now - timedelta(minutes=30)}
    assert ids(api.list_events(page_size=1000, **narrow).events) == console_ids(acme, **narrow)
    assert ids(api.list_events(page_size=1000).events) == console_ids(acme)
    ascending = api.list_events(page_size=1000, order_by=ListEventsRequestOrderBy.RECORDED_AT_ASC, **window)
    assert ids(ascending.events) == console_ids(
        acme, order="asc", recorded_after=after, recorded_before=before
    )
    assert ascending.next_page_token is None


def test_sdk_follows_next_page_token_across_three_pages(live_server, acme, auditor_key, trail):
    api = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
    window = {"recorded_after": trail["now"] - timedelta(hours=3), "recorded_before": trail["now"]}
    expected = console_ids(acme, **window)
    assert len(expected) == 16  # 15 + the auditor key's CreateAPIKey
    pages, token = [], None
    while True:
        response = api.list_events(page_size=6, page_token=token, **window)
        pages.append(ids(response.events))
        token = response.next_page_token
        if token is None:
            break
    assert [len(p) for p in pages] == [6, 6, 4]
    assert [pk for page in pages for pk in page] == expected


def test_sdk_list_products_lists_the_products_present(live_server, acme, auditor_key, trail):
    response = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key)).list_products()
    assert [p.name for p in response.products] == ["iam", "kubernetes", "secret-manager"]
    assert response.total_count == 3
    kubernetes = response.products[1]
    assert kubernetes.title == "Kubernetes"
    assert [(s.name, s.methods) for s in kubernetes.services] == [("scaleway.k8s.v1.Api", ["CreateCluster"])]


def test_sdk_last_events_overview_is_the_newest_events_the_console_lists(
    live_server, acme, project, auditor_key, trail
):
    """GetLastEventsOverview: the last ten events whenever recorded (the trail spans three hours,
    beyond ListEvents' default hour), the region's only, and the project's when one is given."""
    globex = OrganizationFactory(name="Globex")
    make_events(globex, 3)  # newer than the whole trail, in another organization
    make_events(acme, 2, locality="nl-ams")  # newer too, in another region
    api = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
    overview = api.get_last_events_overview()
    assert ids(overview.last_events) == console_ids(acme, recorded_after=EARLIEST)[:10]
    assert overview.last_events[0].method_name == "CreateAPIKey"  # the auditor's key, just now
    by_project = api.get_last_events_overview(project_id=str(project.pk))
    assert ids(by_project.last_events) == console_ids(acme, recorded_after=EARLIEST, project_id=project.pk)
    assert len(by_project.last_events) == 6
    assert {e.project_id for e in by_project.last_events} == {str(project.pk)}
    assert ids(api.get_last_events_overview(region="nl-ams").last_events) == console_ids_in(acme, "nl-ams")


def console_ids_in(organization, region) -> list[str]:
    query = EventQuery(region=region, recorded_after=EARLIEST)
    qs = event_queryset(organization_id=organization.pk, query=query).order_by("-recorded_at", "-id")
    return [str(pk) for pk in qs.values_list("id", flat=True)]


def test_sdk_last_events_overview_refuses_without_the_permission_or_for_another_organization(
    live_server, acme, member_key, auditor_key, member_without_rights
):
    denied = AuditTrailV1Alpha1API(sdk_client(live_server, acme, member_key))
    with pytest.raises(ScalewayException) as error:
        denied.get_last_events_overview()
    assert error.value.status_code == 403
    assert error.value.response.json()["details"] == [{"resource": "audit_trail", "action": "read"}]
    refusal = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert (refusal.method_name, refusal.principal_id) == ("GetLastEventsOverview", member_without_rights.pk)
    globex = OrganizationFactory(name="Globex")
    api = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
    with pytest.raises(ScalewayException) as error:
        api.get_last_events_overview(organization_id=str(globex.pk))
    assert error.value.status_code == 403


def test_sdk_rate_limit_answers_429_with_the_quota_and_its_reset(live_server, acme, auditor_key, settings):
    settings.API_RATE_LIMIT = 1
    api = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
    api.list_products()
    with pytest.raises(ScalewayException) as error:
        api.list_products()
    assert error.value.status_code == 429
    body = error.value.response.json()
    assert body["type"] == "too_many_requests"
    assert body["limit"] == {"quota": 1, "window_seconds": settings.API_RATE_LIMIT_WINDOW}
    assert body["reset_seconds"] == int(error.value.response.headers["Retry-After"])
    assert body["help_message"]


def test_sdk_iam_logs_list_and_get(live_server, acme, owner_key, auditor_key):
    iam = IamV1Alpha1API(sdk_client(live_server, acme, owner_key))
    logs = iam.list_logs(page_size=10)
    assert logs.total_count == 2  # the owner's and the auditor's keys were created
    assert {log.resource_id for log in logs.logs} == {owner_key[0], auditor_key[0]}
    assert all(log.action == "created" and log.resource_type == "api_key" for log in logs.logs)
    log = iam.get_log(log_id=logs.logs[0].id)
    assert log == logs.logs[0]
    with pytest.raises(ScalewayException) as error:
        iam.get_log(log_id=str(uuid.uuid4()))
    assert error.value.status_code == 404
    assert error.value.response.json()["type"] == "not_found"


def test_sdk_creates_and_deletes_api_keys_and_the_trail_shows_both(
    live_server, acme, owner, auditor, owner_key, auditor_key
):
    iam = IamV1Alpha1API(sdk_client(live_server, acme, owner_key))
    created = iam.create_api_key(user_id=str(owner.pk), description="nightly export")
    assert created.secret_key and created.user_id == str(owner.pk)
    assert iam.get_api_key(access_key=created.access_key).secret_key is None
    assert created.access_key in {k.access_key for k in iam.list_api_keys(user_id=str(owner.pk)).api_keys}
    with pytest.raises(ScalewayException) as refused:  # a key acting as someone else: never
        iam.create_api_key(user_id=str(auditor.pk), description="as the auditor")
    assert refused.value.status_code == 403
    iam.delete_api_key(access_key=created.access_key)
    assert not APIKey.objects.filter(access_key=created.access_key).exists()

    trail = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
    for method in ("CreateAPIKey", "DeleteAPIKey"):
        [event] = [
            e
            for e in trail.list_events(method_name=method).events
            if e.resources and e.resources[0].id == created.access_key
        ]
        assert event.principal.id == str(owner.pk)
        assert event.locality == "global"
        assert event.user_agent.startswith("scaleway-sdk-python/")
        assert event.status_code == 200


def test_sdk_call_with_a_revoked_key_raises_the_sdks_exception(live_server, acme, auditor, auditor_key):
    api = AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
    api.list_events()
    api_key_delete(actor=Actor.system(), key=APIKey.objects.get(access_key=auditor_key[0]))
    with pytest.raises(ScalewayException) as error:
        api.list_events()
    assert error.value.status_code == 401
    assert error.value.response.json()["type"] == "denied_authentication"


def test_sdk_refusal_is_a_scaleway_exception_and_a_403_event(
    live_server, acme, member_key, member_without_rights
):
    api = IamV1Alpha1API(sdk_client(live_server, acme, member_key))
    with pytest.raises(ScalewayException) as error:
        api.create_api_key(user_id=str(member_without_rights.pk), description="mine")
    assert error.value.status_code == 403
    assert error.value.response.json()["type"] == "permissions_denied"
    refusal = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert (refusal.method_name, refusal.principal_id) == ("CreateAPIKey", member_without_rights.pk)
    assert refusal.request_body == {"user_id": str(member_without_rights.pk), "description": "mine"}
    assert not APIKey.objects.filter(user=member_without_rights).exclude(access_key=member_key[0]).exists()


def test_sdk_parses_a_secret_manager_resource_in_its_real_shape(live_server, acme, auditor_key):
    """Reference §5.1: `secret_manager_secret_info` is an object; redaction must not flatten it."""
    resource = {
        "id": str(uuid.uuid4()),
        "type": "secret_manager_secret",
        "name": "db",
        "secret_manager_secret_info": {"path": "/"},
    }
    make_events(
        acme, 1, resources=[resource], request_body={"name": "db", "secret_id": "abc", "password": "pw"}
    )
    [event] = (
        AuditTrailV1Alpha1API(sdk_client(live_server, acme, auditor_key))
        .list_events(product_name="secret-manager")
        .events
    )
    assert event.resources[0].secret_manager_secret_info.path == "/"
    assert event.request_body == {"name": "db", "secret_id": "abc", "password": "REDACTED"}
