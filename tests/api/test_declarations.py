"""One declaration per endpoint: the document comes from it, and answers are held to it."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse, JsonResponse
from django.urls import path

from api import audit_trail
from api.declare import Body, Field, Operation, Query, operation, operations_of, route
from api.openapi import declared, document
from api.schemas import UUID, closed
from config import urls as site
from tests.api.conformance import ResponseDisagrees, problems
from tests.api.conftest import ApiClient, make_events

EVENTS = "/audit-trail/v1alpha1/regions/fr-par/events"


@operation(
    "GET",
    "ShowToy",
    summary="A toy endpoint whose answer is wrong when asked",
    tag="Audit Trail",
    action="audit_trail:read",
    locality="fr-par",
    query=[Query.boolean("wrong")],
    response=closed({"id": UUID}, required=["id"]),
)
def show_toy(request, args):
    if args["wrong"]:
        return JsonResponse({"id": "not-a-uuid", "extra": 1})
    return JsonResponse({"id": "0b8c4e6e-1111-4222-8333-444455556666"})


urlpatterns = [path("toy", route(show_toy)), *site.urlpatterns]


def answer(response: HttpResponse) -> list[str]:
    return problems(show_toy, response.status_code, response["Content-Type"], response.content)


def test_an_answer_that_disagrees_with_its_declaration_is_found_out():
    assert answer(JsonResponse({"id": "0b8c4e6e-1111-4222-8333-444455556666"})) == []
    found = answer(JsonResponse({"id": "not-a-uuid", "extra": 1}))
    assert any("'extra' was unexpected" in p for p in found)
    assert any('is not a "uuid"' in p for p in found)
    assert answer(JsonResponse({}, status=201)) == ["ShowToy answered 201, which it does not declare"]
    assert answer(HttpResponse("<p>hi</p>")) == [
        "ShowToy answered 200 as 'text/html; charset=utf-8', not JSON"
    ]


@pytest.mark.urls(__name__)
def test_the_suite_fails_on_an_answer_its_declaration_does_not_describe(owner_key):
    api = ApiClient(owner_key[1])
    assert api.get("/toy").json() == {"id": "0b8c4e6e-1111-4222-8333-444455556666"}
    with pytest.raises(ResponseDisagrees, match="'extra' was unexpected"):
        api.get("/toy", {"wrong": "true"})
    # Refusals are declared too: a bad parameter answers the declared invalid_arguments.
    assert api.get("/toy", {"wrong": "maybe"}).status_code == 400


def test_a_real_view_that_grows_an_undeclared_field_fails_the_suite(owner_api, acme, monkeypatch):
    make_events(acme, 1)
    assert owner_api.get(EVENTS).json()["events"]  # conforms as it is
    real = audit_trail.event_json
    monkeypatch.setattr(audit_trail, "event_json", lambda event: {**real(event), "internal_note": "x"})
    with pytest.raises(ResponseDisagrees, match="'internal_note' was unexpected"):
        owner_api.get(EVENTS)


def test_every_routed_endpoint_is_a_declaration_and_the_document_is_built_from_them():
    routes = list(declared())
    doc = document()
    assert len(routes) == len({op.operation_id for _, op in routes}) == 58
    for route_path, op in routes:
        assert doc["paths"][route_path][op.method.lower()] == op.openapi()
    # The document's parameters are the ones the view parses: ListEvents' 15 (§2.1) and the region.
    [list_events] = [op for _, op in routes if op.operation_id == "ListEvents"]
    names = [p["name"] for p in list_events.openapi()["parameters"]]
    assert names[:2] == ["region", "organization_id"]
    assert len(names) == 16
    assert {p.name for p in list_events.query} == set(names) - {"region", "organization_id"}


def test_every_declared_operation_names_each_view_of_its_route():
    from api import urls

    for pattern in urls.urlpatterns:
        if pattern.name in {"api-openapi", "api-public-keys"}:  # public documents, no operation
            continue
        operations = operations_of(pattern.callback)
        assert operations, pattern.name
        assert all(isinstance(op, Operation) for op in operations.values())


def test_the_document_is_plain_json():
    assert json.loads(json.dumps(document())) == document()


def test_a_body_cannot_require_a_field_it_does_not_declare():
    with pytest.raises(ValueError, match="'name'"):
        Body("BrokenRequest", [Field.uuid("project_id")], required=["name"])
