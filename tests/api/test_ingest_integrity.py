"""Ingestion stores what it acknowledges, per organization, and refuses what it cannot store.

Issue 8: nothing lost, nothing invented (#1, #2, #8a, the ingestion 500s of #11, #14a).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from audit.selectors import EventQuery, event_queryset
from core.ids import uuid7
from tests.api.conftest import ApiClient, api_key_for, wire_event
from tests.factories import ApplicationFactory, grant

INGEST = "/x/audit-trail/v1/events"


def post(api, body):
    return api.post(INGEST, json.dumps(body), content_type="application/json")


def names(response) -> set[str]:
    return {d["argument_name"] for d in response.json()["details"]}


@pytest.fixture
def globex(outsider):
    return outsider.owned_organizations.get()


@pytest.fixture
def globex_writer_api(globex):
    application = ApplicationFactory(organization=globex, name="globex-shipper")
    grant(application, globex, "AuditTrailEventsWriter")
    return ApiClient(api_key_for(application, globex)[1])


def nested(depth: int) -> dict:
    """A JSON object `depth` levels deep: {"a": {"a": ... {"a": 1}}}."""
    value: dict = {"a": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# --- #1: every item is validated, whatever its id -----------------------------------------------


def _renamed_id(acme):
    event = wire_event(acme)
    event["event_id"] = event.pop("id")
    return [event]


NOT_EVENTS = {
    "an object of unknown fields": (
        lambda acme: [{"foo": "bar"}],
        {"events[0].foo", "events[0].id", "events[0].recorded_at", "events[0].status_code"},
    ),
    "numbers": (lambda acme: [1, 2, 3], {"events[0]", "events[1]", "events[2]"}),
    "an id that is not a UUID": (lambda acme: [wire_event(acme, id="not-a-uuid")], {"events[0].id"}),
    "event_id instead of id": (_renamed_id, {"events[0].event_id", "events[0].id"}),
    "null": (lambda acme: [None], {"events[0]"}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", NOT_EVENTS)
def test_items_that_are_not_events_are_refused_and_named_not_answered_as_duplicates(writer_api, acme, case):
    make, expected = NOT_EVENTS[case]
    before = Event.objects.count()
    response = writer_api.post(INGEST, json.dumps(make(acme)), content_type="application/json")
    assert response.status_code == 400, response.json()
    assert response.json()["type"] == "invalid_arguments"
    assert expected <= names(response)
    assert Event.objects.count() == before


@pytest.mark.django_db
def test_a_batch_of_stored_events_and_one_invalid_item_is_refused_whole(writer_api, acme):
    batch = [wire_event(acme) for _ in range(3)]
    assert post(writer_api, batch).json()["created"] == 3
    response = post(writer_api, [*batch, {"foo": "bar"}])
    assert response.status_code == 400
    assert all(name.startswith("events[3]") for name in names(response))


@pytest.mark.django_db
def test_a_refused_batch_claims_no_id(writer_api, acme):
    event = wire_event(acme)
    assert post(writer_api, [event, wire_event(acme, status_code=42)]).status_code == 400
    assert post(writer_api, [event]).json() == {"received": 1, "created": 1, "duplicates": 0}


# --- #2: idempotency is per organization ------------------------------------------------------


@pytest.mark.django_db
def test_two_organizations_may_each_store_an_event_with_the_same_id_at_the_same_instant(
    writer_api, globex_writer_api, acme, globex
):
    theirs = wire_event(globex)
    assert post(globex_writer_api, [theirs]).json()["created"] == 1
    ours = wire_event(acme, id=theirs["id"], recorded_at=theirs["recorded_at"], method_name="DeleteSecret")
    # Nothing tells Acme that Globex holds this id.
    assert post(writer_api, [ours]).json() == {"received": 1, "created": 1, "duplicates": 0}
    stored = {e.organization_id: e.method_name for e in Event.objects.filter(id=theirs["id"])}
    assert stored == {globex.pk: "CreateSecret", acme.pk: "DeleteSecret"}
    # and each organization's retry is its own duplicate
    assert post(writer_api, [ours]).json()["duplicates"] == 1
    assert post(globex_writer_api, [theirs]).json()["duplicates"] == 1


@pytest.mark.django_db
def test_an_id_is_stored_once_in_its_organization_whatever_its_recorded_at(writer_api, acme):
    first = wire_event(acme)
    later = wire_event(acme, id=first["id"], recorded_at=timezone.now().isoformat())
    assert post(writer_api, [first]).json()["created"] == 1
    assert post(writer_api, [later]).json() == {"received": 1, "created": 0, "duplicates": 1}
    assert Event.objects.filter(organization_id=acme.pk, id=first["id"]).count() == 1


@pytest.mark.django_db
def test_an_id_recorded_by_the_application_itself_is_a_duplicate_for_its_organization(
    writer_api, acme, owner
):
    from audit.services import Actor, record

    event = record(
        organization_id=acme.pk,
        actor=Actor.of(owner),
        product_name="iam",
        service_name="scaleway.iam.v1alpha1.Api",
        method_name="CreateGroup",
        locality="global",
    )
    resent = wire_event(acme, id=str(event.id), recorded_at=event.recorded_at.isoformat())
    assert post(writer_api, [resent]).json() == {"received": 1, "created": 0, "duplicates": 1}


# --- #8a: principals resolve within the event's organization -----------------------------------


@pytest.mark.django_db
def test_ingested_principals_resolve_only_to_members_of_the_organization(
    writer_api, acme, owner, auditor, outsider
):
    stranger = wire_event(acme, principal={"id": str(outsider.pk)})
    named = wire_event(acme, principal={"id": str(outsider.pk), "name": "as-sent"})
    member = wire_event(acme, principal={"id": str(auditor.pk)})
    itself = wire_event(acme, principal={"id": str(owner.pk)})
    assert post(writer_api, [stranger, named, member, itself]).json()["created"] == 4
    stored = {str(e.id): e.principal_name for e in Event.objects.filter(organization_id=acme.pk)}
    assert stored[stranger["id"]] == ""
    assert stored[named["id"]] == "as-sent"
    assert stored[member["id"]] == "auditor@acme.test"
    assert stored[itself["id"]] == "owner@acme.test"
    # Acme's search for Globex's owner matches nothing.
    query = EventQuery(
        region="fr-par", recorded_after=timezone.now() - timedelta(hours=1), text=outsider.email
    )
    assert not event_queryset(organization_id=acme.pk, query=query).exists()


# --- #11: what the database or the renderers cannot take is a 400 naming the field -------------

UNSTORABLE = {
    "recorded_at in year 0 in UTC": ({"recorded_at": "0001-01-01T00:00:00+01:00"}, "recorded_at"),
    "recorded_at past year 9999 in UTC": ({"recorded_at": "9999-12-31T23:59:59-01:00"}, "recorded_at"),
    "recorded_at before the epoch": ({"recorded_at": "1969-12-31T23:59:59+00:00"}, "recorded_at"),
    "a scoped IPv6 address": ({"source_ip": "fe80::1%eth0"}, "source_ip"),
    "a request body nested 1,000 deep": ({"request_body": nested(1000)}, "request_body"),
    "a request body nested 33 deep": ({"request_body": nested(33)}, "request_body"),
    "an integer beyond 64 bits": ({"request_body": {"n": 2**63}}, "request_body"),
    "a deep resource info": (
        {"resources": [{"id": "r", "type": "t", "t_info": nested(40)}]},
        "resources[0].t_info",
    ),
    "a service name longer than its column": (
        {"service_name": "scaleway." + "a" * 150 + ".Api"},
        "service_name",
    ),
    "NUL in a key": ({"request_body": {"a\x00": 1}}, ""),
    "NUL deep in a deep body": ({"request_body": {"x": nested(1000), "y": "\x00"}}, ""),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", UNSTORABLE)
def test_values_the_database_or_the_renderers_cannot_take_are_refused_and_named(writer_api, acme, case):
    overrides, field = UNSTORABLE[case]
    response = post(writer_api, [wire_event(acme), wire_event(acme, **overrides)])
    assert response.status_code == 400, response.content
    expected = f"events[1].{field}" if field else "events[1]"
    assert names(response) == {expected}
    assert not Event.objects.filter(organization_id=acme.pk, product_name="secret-manager").exists()


@pytest.mark.django_db
def test_the_deepest_body_allowed_is_stored_and_shown_in_the_drawer_and_the_api(
    writer_api, acme, owner_client, owner_api
):
    event = wire_event(acme, request_body=nested(32), source_ip="fe80::1")
    assert post(writer_api, [event]).json()["created"] == 1
    assert owner_client.get(f"/audit-trail/events/{event['id']}/").status_code == 200
    response = owner_api.get("/audit-trail/v1alpha1/regions/fr-par/events", {"method_name": "CreateSecret"})
    assert response.status_code == 200
    assert [e["id"] for e in response.json()["events"]] == [event["id"]]


# --- #14a: any stored event opens ---------------------------------------------------------------


@pytest.mark.django_db
def test_an_event_whose_v7_id_is_far_from_its_recorded_at_opens_in_the_drawer(writer_api, acme, owner_client):
    at = timezone.now() - timedelta(minutes=1)
    ids = [
        uuid7(at - timedelta(days=400)),  # minted long before
        uuid7(at + timedelta(days=30)),  # or after
        uuid.UUID("ffffffff-ffff-7fff-bfff-ffffffffffff"),  # a time no datetime holds
        uuid.UUID("00000000-0000-7000-8000-000000000000"),  # the epoch
    ]
    batch = [wire_event(acme, id=str(pk), recorded_at=at.isoformat()) for pk in ids]
    assert post(writer_api, batch).json()["created"] == len(ids)
    for pk in ids:
        response = owner_client.get(f"/audit-trail/events/{pk}/")
        assert response.status_code == 200, pk
        assert str(pk) in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_v7_id_at_the_end_of_time_is_not_found_not_a_server_error(owner_client, acme):
    assert owner_client.get("/audit-trail/events/ffffffff-ffff-7fff-bfff-ffffffffffff/").status_code == 404


@pytest.mark.django_db
def test_the_drawer_opens_only_its_own_organizations_event_when_another_shares_the_id(
    writer_api, globex_writer_api, acme, globex, owner_client
):
    theirs = wire_event(globex, user_agent="globex-agent/9")
    ours = wire_event(acme, id=theirs["id"], recorded_at=theirs["recorded_at"], user_agent="acme-agent/1")
    post(globex_writer_api, [theirs])
    post(writer_api, [ours])
    response = owner_client.get(f"/audit-trail/events/{ours['id']}/")
    assert response.status_code == 200
    assert "acme-agent/1" in response.content.decode()
    assert "globex-agent/9" not in response.content.decode()
