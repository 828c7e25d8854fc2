from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import Event
from tests.api.conftest import wire_event

INGEST = "/x/audit-trail/v1/events"


def post(api, events, *, ndjson=False):
    if ndjson:
        body = "\n".join(json.dumps(e) for e in events) + "\n"
        return api.post(INGEST, body, content_type="application/x-ndjson")
    return api.post(INGEST, json.dumps({"events": events}), content_type="application/json")


def ingested(acme):
    return Event.objects.filter(organization_id=acme.pk, product_name="secret-manager")


@pytest.mark.django_db
def test_a_batch_of_1000_events_lands_in_one_request(writer_api, acme):
    batch = [wire_event(acme) for _ in range(1000)]
    response = post(writer_api, batch)
    assert response.status_code == 200, response.json()
    assert response.json() == {"received": 1000, "created": 1000, "duplicates": 0}
    assert ingested(acme).count() == 1000
    stored = ingested(acme).get(id=batch[0]["id"])
    assert stored.request_body == {"name": "db-pass", "secret_key": "REDACTED"}
    assert stored.principal_id == uuid.UUID(batch[0]["principal"]["id"])
    assert stored.region == "fr-par"


@pytest.mark.django_db
def test_sending_a_batch_again_creates_no_new_event(writer_api, acme):
    batch = [wire_event(acme) for _ in range(50)]
    assert post(writer_api, batch).json()["created"] == 50
    response = post(writer_api, batch)
    assert response.json() == {"received": 50, "created": 0, "duplicates": 50}
    assert ingested(acme).count() == 50
    # and a batch overlapping the first stores only what is new
    assert post(writer_api, batch[:10] + [wire_event(acme)], ndjson=True).json()["created"] == 1
    assert ingested(acme).count() == 51


@pytest.mark.django_db
def test_a_batch_with_one_invalid_event_stores_nothing_and_names_it(writer_api, acme):
    batch = [wire_event(acme) for _ in range(10)]
    batch[3]["method_name"] = "create secret"
    batch[7]["resources"] = [{"type": "secret_manager_secret"}]
    response = post(writer_api, batch)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_arguments"
    assert [d["argument_name"] for d in body["details"]] == [
        "events[3].method_name",
        "events[7].resources[0].id",
    ]
    assert ingested(acme).count() == 0


@pytest.mark.django_db
def test_every_field_is_checked_against_the_event_schema(writer_api, acme, outsider):
    globex = outsider.owned_organizations.get()
    from tests.factories import ProjectFactory

    foreign_project = ProjectFactory(organization=globex)
    cases = {
        "id": {"id": "42"},
        "recorded_at": {"recorded_at": "2026-01-01T00:00:00"},  # no offset
        "locality": {"locality": "paris"},
        "status_code": {"status_code": 42},
        "organization_id": {"organization_id": str(globex.pk)},
        "project_id": {"project_id": str(foreign_project.pk)},
        "source_ip": {"source_ip": "999.1.1.1"},
        "principal.id": {"principal": {"id": "me"}},
        "service_name": {"service_name": "api"},
        "product_name": {"product_name": "Secret Manager"},
        "request_body": {"request_body": ["not", "an", "object"]},
        "surprise": {"surprise": 1},
        "resources[0].created_at": {"resources": [{"id": "x", "type": "iam_user", "created_at": "soon"}]},
    }
    batch = [wire_event(acme, **overrides) for overrides in cases.values()]
    batch.append(wire_event(acme, recorded_at=(timezone.now() + timedelta(hours=1)).isoformat()))
    response = post(writer_api, batch)
    names = [d["argument_name"] for d in response.json()["details"]]
    assert sorted(names) == sorted(
        [f"events[{i}].{field}" for i, field in enumerate(cases)] + ["events[13].recorded_at"]
    )
    assert ingested(acme).count() == 0


@pytest.mark.django_db
def test_malformed_bodies_and_oversized_batches_are_refused(writer_api, acme):
    assert writer_api.post(INGEST, "{", content_type="application/json").status_code == 400
    assert writer_api.post(INGEST, "[]", content_type="application/json").status_code == 400
    assert writer_api.post(INGEST, '{"events": 3}', content_type="application/json").status_code == 400
    response = writer_api.post(INGEST, '{"ok": 1}\nnope\n', content_type="application/x-ndjson")
    assert [d["argument_name"] for d in response.json()["details"]] == ["events[1]"]
    response = post(writer_api, [wire_event(acme) for _ in range(1001)])
    assert response.status_code == 400
    assert "at most 1000" in response.json()["details"][0]["help_message"]


@pytest.mark.django_db
def test_ingestion_needs_the_writer_permission_set(auditor_api, acme, auditor):
    response = post(auditor_api, [wire_event(acme)])
    assert response.status_code == 403
    assert response.json()["details"] == [{"resource": "audit_trail", "action": "ingest"}]
    refusal = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert (refusal.method_name, refusal.principal_id) == ("IngestEvents", auditor.pk)
    assert ingested(acme).count() == 0


@pytest.mark.django_db
def test_ingested_principals_resolve_to_the_organizations_applications(writer_api, acme, writer):
    event = wire_event(acme, principal={"id": str(writer.pk)})
    post(writer_api, [event])
    stored = Event.objects.get(id=event["id"])
    assert (stored.principal_type, stored.principal_name) == ("application", "log-shipper")


@pytest.mark.django_db
def test_ingestion_costs_a_fixed_number_of_queries(writer_api, acme, django_assert_max_num_queries):
    batch = [wire_event(acme) for _ in range(200)]
    # key, membership/rules, principals (users and applications in one), the id claim (one
    # statement on PostgreSQL, three on SQLite), the insert (a COPY on PostgreSQL), the upsert of
    # the hours' counts (audit_event_rollup) and one savepoint (the test's transaction makes
    # ingestion nested)
    with django_assert_max_num_queries(8 if connection.vendor == "postgresql" else 10):
        assert post(writer_api, batch).json()["created"] == 200


@pytest.mark.django_db
def test_nul_characters_are_refused_not_a_server_error(writer_api, acme):
    batch = [wire_event(acme), wire_event(acme, request_body={"name": "a\x00b"})]
    response = post(writer_api, batch)
    assert response.status_code == 400
    assert [d["argument_name"] for d in response.json()["details"]] == ["events[1]"]


@pytest.mark.django_db
def test_ingested_events_store_what_record_many_would_store(writer_api, acme, project):
    """The batch path builds rows without model instances; build_event + record_many is the
    reference for every stored value (redaction, region, principal, defaults)."""
    from audit.services import Actor, build_event, record_many

    event = wire_event(
        acme,
        locality="nl-ams-1",
        project_id=str(project.pk),
        principal={"id": str(uuid.uuid4()), "type": "application", "name": "shipper"},
        user_agent="",
        source_ip="2001:DB8::1",
        resources=[
            {
                "id": "s-1",
                "type": "secret_manager_secret",
                "name": None,
                "secret_manager_secret_info": {"path": "/", "password": "p", "token_id": "t"},
            }
        ],
        request_body={"name": "x", "tags": ["a"], "nested": {"api_token": "t", "secret_id": "i"}},
    )
    assert post(writer_api, [event]).json()["created"] == 1
    ingested_event = Event.objects.get(id=event["id"])

    reference_id = uuid.uuid4()
    record_many(
        [
            build_event(
                id=reference_id,
                recorded_at=ingested_event.recorded_at,
                organization_id=acme.pk,
                project_id=project.pk,
                locality="nl-ams-1",
                actor=Actor(
                    principal_type="application",
                    principal_id=uuid.UUID(event["principal"]["id"]),
                    principal_name="shipper",
                    source_ip="2001:db8::1",
                    user_agent="",
                    request_id=event["request_id"],
                ),
                product_name=event["product_name"],
                service_name=event["service_name"],
                method_name=event["method_name"],
                status_code=200,
                resources=event["resources"],
                request_body=event["request_body"],
            )
        ]
    )
    reference = Event.objects.get(id=reference_id)
    columns = [f.attname for f in Event._meta.concrete_fields if f.attname != "id"]
    assert {c: getattr(ingested_event, c) for c in columns} == {c: getattr(reference, c) for c in columns}
    assert ingested_event.region == "nl-ams"
    assert ingested_event.request_body == {
        "name": "x",
        "tags": ["a"],
        "nested": {"api_token": "REDACTED", "secret_id": "i"},
    }
    assert ingested_event.resources[0]["secret_manager_secret_info"] == {
        "path": "/",
        "password": "REDACTED",
        "token_id": "t",
    }


def test_copy_on_write_redaction_matches_the_deep_copy_and_leaves_its_input_alone():
    import copy

    from audit.redaction import redact, redacted

    values = [
        {"secret_key": "s", "password": "", "token": None, "otp": 0, "private_key": False},
        {"tokens": ["a", "b"], "secret": [], "credentials": {"user": "u", "password": "p"}},
        {"page_token": "p", "secret_id": "i", "key_ids": ["k"], 1: "one", "Authorization": "Bearer x"},
        [{"a": [1, {"client_secret": "c"}]}, "x", [{"b": 2}]],
        {"name": "n", "tags": ["prod"], "info": {"path": "/"}},
    ]
    for value in values:
        before = copy.deepcopy(value)
        assert redacted(value) == redact(value)
        assert value == before
    clean = {"name": "n", "tags": ["prod"], "info": {"path": "/"}}
    assert redacted(clean) is clean  # nothing to hide: no copy
    secret = {"a": {"b": 1}, "c": {"password": "p"}}
    assert redacted(secret)["a"] is secret["a"]  # only the way to the secret is copied


@pytest.mark.django_db
def test_ingestion_announces_the_stored_events_once_committed(
    writer_api, acme, django_capture_on_commit_callbacks
):
    from audit.signals import events_recorded

    received = []

    def listener(sender, *, recorded, **kwargs):
        received.extend(group._asdict() for group in recorded)

    events_recorded.connect(listener)
    try:
        batch = [wire_event(acme, locality="fr-par-2"), wire_event(acme, locality="pl-waw")]
        with django_capture_on_commit_callbacks(execute=True):
            post(writer_api, batch)
        with django_capture_on_commit_callbacks(execute=True):
            post(writer_api, batch)  # the retry stores nothing, so announces nothing
    finally:
        events_recorded.disconnect(listener)
    assert sorted((r["region"], r["organization_id"], r["event_ids"]) for r in received) == [
        ("fr-par", acme.pk, [uuid.UUID(batch[0]["id"])]),
        ("pl-waw", acme.pk, [uuid.UUID(batch[1]["id"])]),
    ]


@pytest.mark.django_db
def test_the_validators_rows_are_what_event_row_builds_for_every_shape(acme):
    """Validation builds its rows with event_row, from what it checked: the same rows as event_row
    given the wire values, over shapes that take each of its memos and each way around them."""
    from audit import ingest
    from audit.services import event_row

    at = (timezone.now() - timedelta(minutes=2)).isoformat()
    info = {"path": "/", "password": "p", "nested": {"token": "t", "secret_id": "i"}, "list": [{"otp": 1}]}
    shapes = [
        {},
        {"locality": "fr-par-2"},  # same names, another locality: another region
        {"locality": "global", "request_body": None, "resources": None},
        {"request_body": {}, "resources": []},
        {"request_body": {"a": [{"client_secret": "x"}], "secret_id": "keep", "page_token": "keep"}},
        {"resources": [{"id": "r", "type": "t", "created_at": at, "updated_at": at, "t_info": info}]},
        {
            "resources": [
                {"id": "a", "type": "t", "t_info": {"path": "/"}},
                {"id": "b", "type": "t", "name": None, "action": "x", "t_info": {"secret": "s"}},
                {"id": "c", "type": "t", "deleted_at": at},
            ]
        },
        {"principal": {"id": str(uuid.uuid4()), "type": "application", "name": "n" * 200}},
        {"principal": None, "source_ip": "", "user_agent": None, "request_id": None},
        {"source_ip": "2001:DB8::1", "status_code": 403, "method_name": "DeleteSecret"},
    ]
    items = [wire_event(acme, **shape) for shape in shapes]
    before = json.dumps(items)
    events = ingest.validate(items, organization=acme)
    assert json.dumps(items) == before  # the input is left alone
    for item, event in zip(items, events, strict=True):
        principal = item["principal"] or {}
        expected = event_row(
            id=uuid.UUID(item["id"]),
            recorded_at=event.recorded_at,
            organization_id=acme.pk,
            project_id=None,
            locality=item["locality"],
            principal_type=event.principal_type,
            principal_id=uuid.UUID(principal["id"]) if principal else None,
            principal_name=principal.get("name", ""),
            source_ip=event.source_ip,
            user_agent=item["user_agent"] or "",
            product_name=item["product_name"],
            service_name=item["service_name"],
            method_name=item["method_name"],
            resources=item["resources"] or [],
            request_id=item["request_id"] or "",
            request_body=item["request_body"],
            status_code=item["status_code"],
        )
        assert [getattr(event, f) for f in expected._fields] == list(expected)
    assert events[1].region == "fr-par" and events[2].region == "fr-par"
    assert events[5].resources[0]["t_info"]["password"] == "REDACTED"
    assert events[5].resources[0]["t_info"]["nested"] == {"token": "REDACTED", "secret_id": "i"}
    assert events[6].resources[0] is items[6]["resources"][0]  # nothing to hide: not copied


@pytest.mark.django_db
def test_unhashable_values_where_the_fast_paths_look_up_caches_are_named_not_a_server_error(writer_api, acme):
    batch = [
        wire_event(acme, principal={"id": ["not", "a", "uuid"]}),
        wire_event(acme, locality=["fr-par"]),
        wire_event(acme, method_name={"name": "CreateSecret"}),
        wire_event(acme, resources=[{"id": "r", "type": "t", "created_at": ["2026-01-01T00:00:00Z"]}]),
    ]
    response = post(writer_api, batch)
    assert response.status_code == 400
    assert [d["argument_name"] for d in response.json()["details"]] == [
        "events[0].principal.id",
        "events[1].locality",
        "events[2].method_name",
        "events[3].resources[0].created_at",
    ]


@pytest.mark.django_db
def test_a_status_code_written_with_a_zero_fraction_is_that_integer(writer_api, acme):
    # JSON has one number type, and JSON Schema (so the OpenAPI document) reads 404.0 as an integer.
    event = wire_event(acme) | {"status_code": 404.0}
    response = writer_api.post(INGEST, json.dumps({"events": [event]}), content_type="application/json")
    assert response.status_code == 200, response.json()
    assert ingested(acme).get(id=event["id"]).status_code == 404
    assert post(writer_api, [wire_event(acme) | {"status_code": 404.5}]).status_code == 400
