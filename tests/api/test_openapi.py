"""The OpenAPI document describes the API, and fuzzing the API from it never yields a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from audit.openapi import document
from tests.api.conftest import make_events

EXAMPLES_PER_OPERATION = 25


def test_the_document_is_served_and_lists_every_operation(client):
    response = client.get("/x/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert operations == {
        "ListEvents",
        "ListProducts",
        "ListAuthenticationEvents",
        "ListCombinedEvents",
        "ListLogs",
        "GetLog",
        "ListAPIKeys",
        "CreateAPIKey",
        "GetAPIKey",
        "DeleteAPIKey",
        "IngestEvents",
        "ListAlertRules",
        "SetEnabledAlertRules",
        "EnableAlertRules",
        "DisableAlertRules",
        "ListCustomAlertRules",
        "CreateCustomAlertRule",
        "SetEnabledCustomAlertRules",
        "UpdateCustomAlertRule",
        "DeleteCustomAlertRule",
        "EnableCustomAlertRules",
        "DisableCustomAlertRules",
    }


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, minus the connection cleanup that would close the test's transaction
    (Django's own test client disconnects it the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_fuzzing_every_operation_from_the_document_gives_no_server_error(
    acme, owner_key, writer_key, wsgi_app
):
    make_events(acme, 5)
    schema = schemathesis.openapi.from_dict(document())
    app = wsgi_app
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 22
    for operation in operations:
        secret = writer_key[1] if operation.definition.raw["operationId"] == "IngestEvents" else owner_key[1]
        fuzzer(operation, app, secret)()


def fuzzer(operation, app, secret):
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        response = case.call(app=app, headers={"X-Auth-Token": secret})
        case.validate_response(response, checks=[not_a_server_error])
        content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
        assert response.status_code == 204 or "application/json" in str(content_type), response.text[:200]

    return fuzz
