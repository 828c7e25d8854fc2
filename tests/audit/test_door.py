"""The one door into the trail: what each writer stores, and that it announces it once committed."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from audit.models import Event, EventKey
from audit.services import Actor, build_event, event_row, record, record_many
from audit.signals import events_recorded
from tests.api.conftest import ApiClient, api_key_for

SECRET = {
    "product_name": "secret-manager",
    "service_name": "scaleway.secret_manager.v1beta1.Api",
    "method_name": "CreateSecret",
    "locality": "fr-par",
}


def _event(organization, **overrides) -> Event:
    return build_event(organization_id=organization.pk, actor=Actor.system(), **(SECRET | overrides))


def _again(event: Event) -> Event:
    """The same event as a client sends it again: same id and organization, a fresh instance."""
    return build_event(
        organization_id=event.organization_id,
        actor=Actor.system(),
        id=event.id,
        recorded_at=event.recorded_at,
        **SECRET,
    )


@pytest.fixture
def announced():
    """What `events_recorded` says, as (organization_id, region, event_ids), once sent."""
    received: list[tuple[uuid.UUID, str, list[uuid.UUID]]] = []

    def listener(sender, *, recorded, **kwargs):
        received.extend((group.organization_id, group.region, group.event_ids) for group in recorded)

    events_recorded.connect(listener, dispatch_uid="test_door_listener")
    yield received
    events_recorded.disconnect(dispatch_uid="test_door_listener")


# --- record_many: the batch door, idempotent ------------------------------------------------------


@pytest.mark.django_db
def test_record_many_stores_a_batch_once_and_a_retried_batch_stores_nothing(acme):
    events = [_event(acme), _event(acme, method_name="DeleteSecret")]
    assert record_many(events) == events
    assert record_many([_again(e) for e in events]) == []
    assert Event.objects.filter(organization_id=acme.pk).count() == 2


@pytest.mark.django_db
def test_record_many_keeps_the_first_of_two_events_sharing_an_id(acme):
    first = _event(acme)
    second = build_event(
        organization_id=acme.pk,
        actor=Actor.system(),
        id=first.id,
        **(SECRET | {"method_name": "DeleteSecret"}),
    )
    assert record_many([first, second]) == [first]
    assert Event.objects.get(pk=first.id).method_name == "CreateSecret"


@pytest.mark.django_db
def test_record_many_skips_an_id_that_record_already_stored_in_the_organization(acme):
    single = record(organization_id=acme.pk, actor=Actor.system(), **SECRET)
    assert record_many([_again(single)]) == []
    assert Event.objects.filter(pk=single.id).count() == 1


@pytest.mark.django_db
def test_an_id_is_an_idempotency_key_within_its_organization_only(acme, outsider):
    globex = outsider.owned_organizations.get()
    ours = _event(acme)
    theirs = build_event(organization_id=globex.pk, actor=Actor.system(), id=ours.id, **SECRET)
    assert record_many([ours]) == [ours]
    assert record_many([theirs]) == [theirs]
    assert EventKey.objects.filter(event_id=ours.id).count() == 2


@pytest.mark.django_db
def test_record_many_takes_rows_as_ingestion_builds_them_and_returns_the_rows_stored(acme):
    event = _event(acme, request_body={"name": "db", "password": "hunter2"})
    row = event_row(**{name: getattr(event, name) for name in ("id", "recorded_at", "organization_id",
        "project_id", "locality", "principal_type", "principal_id", "principal_name", "source_ip",
        "user_agent", "product_name", "service_name", "method_name", "resources", "request_id",
        "request_body", "status_code")})  # fmt: skip
    assert record_many([row]) == [row]
    assert record_many([row]) == []
    stored = Event.objects.get(pk=event.id)
    assert (stored.method_name, stored.region, stored.request_body) == (
        "CreateSecret",
        "fr-par",
        {"name": "db", "password": "REDACTED"},
    )


@pytest.mark.django_db
def test_a_batch_that_fails_while_streaming_leaves_no_key_behind_so_its_retry_stores_it(acme):
    events = [_event(acme), _event(acme)]
    keys = [(acme.pk, e.id) for e in events]

    def failing():
        yield events[0]
        raise ValueError("event 1 is invalid")

    with pytest.raises(ValueError, match="event 1 is invalid"):
        record_many(failing(), keys=keys)
    assert not Event.objects.filter(organization_id=acme.pk).exists()
    assert not EventKey.objects.filter(organization_id=acme.pk).exists()
    assert record_many(events, keys=keys) == events


# --- announcements: every door, once per call, on commit ------------------------------------------


@pytest.mark.django_db
def test_record_announces_its_event_once_committed_and_not_before(
    acme, announced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        event = record(organization_id=acme.pk, actor=Actor.system(), **(SECRET | {"locality": "nl-ams-1"}))
    assert announced == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert announced == [(acme.pk, "nl-ams", [event.id])]


@pytest.mark.django_db
def test_record_many_announces_a_batch_once_per_organization_and_region(
    acme, outsider, announced, django_capture_on_commit_callbacks
):
    globex = outsider.owned_organizations.get()
    paris, warsaw, theirs = _event(acme), _event(acme, locality="pl-waw"), _event(globex)
    with django_capture_on_commit_callbacks() as callbacks:
        record_many([paris, warsaw, theirs])
    assert announced == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert sorted(announced, key=str) == sorted(
        [
            (acme.pk, "fr-par", [paris.id]),
            (acme.pk, "pl-waw", [warsaw.id]),
            (globex.pk, "fr-par", [theirs.id]),
        ],
        key=str,
    )


@pytest.mark.django_db
def test_a_batch_that_stores_nothing_announces_nothing(acme, announced, django_capture_on_commit_callbacks):
    event = _event(acme)
    record_many([event])
    with django_capture_on_commit_callbacks(execute=True):
        record_many([_again(event)])
    assert announced == []


# --- record_refusal: the console and the API file a refusal alike ---------------------------------


@pytest.mark.django_db
def test_the_console_and_the_api_file_a_refusal_alike_and_announce_it_once(
    member_client, member_without_rights, acme, announced, django_capture_on_commit_callbacks
):
    _, secret = api_key_for(member_without_rights, acme)
    with django_capture_on_commit_callbacks(execute=True) as console_callbacks:
        console = member_client.get(reverse("audit:events"), {"region": "nl-ams"})
    with django_capture_on_commit_callbacks(execute=True) as api_callbacks:
        api = ApiClient(secret).get("/audit-trail/v1alpha1/regions/nl-ams/events")
    assert console.status_code == api.status_code == 403
    refusals = list(Event.objects.filter(organization_id=acme.pk, status_code=403).order_by("recorded_at"))
    assert [
        (e.product_name, e.service_name, e.method_name, e.locality, e.region, e.principal_id)
        for e in refusals
    ] == [
        (
            "audit-trail",
            "scaleway.audit_trail.v1alpha1.Api",
            "ListEvents",
            "nl-ams",
            "nl-ams",
            member_without_rights.pk,
        )
    ] * 2
    assert [e.request_id for e in refusals] == [console["X-Request-Id"], api["X-Request-Id"]]
    assert len(console_callbacks) == len(api_callbacks) == 1
    assert announced == [(acme.pk, "nl-ams", [refusals[0].id]), (acme.pk, "nl-ams", [refusals[1].id])]


@pytest.mark.django_db
def test_a_console_refusal_asked_in_no_known_region_is_filed_in_the_default_region(
    member_client, acme, member_without_rights
):
    response = member_client.get(reverse("audit:events"), {"region": "xx-abc"})
    assert response.status_code == 403
    refusal = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert (refusal.locality, refusal.principal_id) == ("fr-par", member_without_rights.pk)
