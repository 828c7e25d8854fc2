"""The OpenAPI document and the API agree, both ways.

schemathesis runs against the live server as the CLI would (`st run --checks all`): every phase
(examples, coverage, fuzzing, stateful), positive and negative data, and every check, so a request
the document allows must be accepted, a request it forbids must be refused, and every answer must
match its documented status, content type, headers and schema. Seeded and bounded, so a failure
reproduces and the run stays within CI's budget.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema
from schemathesis.engine import events as engine_events

from api.openapi import document
from integrity.services import seal
from tests.api import schemathesis_hooks
from tests.api.conftest import api_key_for, make_events
from tests.factories import ApplicationFactory, ProjectFactory

SEED = 20261129
EXAMPLES_PER_OPERATION = 12
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
]
OPERATIONS = {
    "ListEvents",
    "ListProducts",
    "ListAuthenticationEvents",
    "ListCombinedEvents",
    "GetLastEventsOverview",
    "ListSystemEvents",
    "ListLogs",
    "GetLog",
    "ListAPIKeys",
    "CreateAPIKey",
    "GetAPIKey",
    "UpdateAPIKey",
    "DeleteAPIKey",
    "ListPolicies",
    "CreatePolicy",
    "GetPolicy",
    "UpdatePolicy",
    "DeletePolicy",
    "ClonePolicy",
    "SetRules",
    "ListRules",
    "ListPermissionSets",
    "ListApplications",
    "CreateApplication",
    "GetApplication",
    "UpdateApplication",
    "DeleteApplication",
    "ListGroups",
    "CreateGroup",
    "GetGroup",
    "UpdateGroup",
    "DeleteGroup",
    "SetGroupMembers",
    "AddGroupMember",
    "AddGroupMembers",
    "RemoveGroupMember",
    "ListUsers",
    "CreateUser",
    "GetUser",
    "DeleteUser",
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
    "ListExportJobs",
    "CreateExportJob",
    "DeleteExportJob",
    "GetSignedTreeHead",
    "GetInclusionProof",
    "GetConsistencyProof",
}


def test_the_document_is_served_and_lists_every_operation(client):
    response = client.get("/x/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert operations == OPERATIONS


def test_the_document_is_a_valid_openapi_document():
    schema = schemathesis.openapi.from_dict(document())
    assert {result.ok().definition.raw["operationId"] for result in schema.get_all_operations()} == OPERATIONS


def conformance_config(
    base_url: str,
    secret: str,
    *,
    checks: list[str],
    examples: int = EXAMPLES_PER_OPERATION,
    phases: tuple[str, ...] = ("examples", "coverage", "fuzzing", "stateful"),
) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            # A new connection per request: on a kept-alive one, the test server's separate header
            # and body writes meet TCP's delayed ACK, and every request takes 40 ms longer.
            "headers": {"X-Auth-Token": secret, "Connection": "close"},
            "workers": 1,
            "continue-on-failure": True,
            "cache": {"enabled": False},
            "suppress-health-check": ["all"],
            "generation": {
                "mode": "all",
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "examples": {"enabled": "examples" in phases},
                "coverage": {"enabled": "coverage" in phases},
                "fuzzing": {"enabled": "fuzzing" in phases},
                "stateful": {"enabled": "stateful" in phases, "max-steps": 6},
            },
            "checks": {name: {"enabled": name in checks} for name in CHECKS},
            "request-timeout": 30,
        }
    )


def _member_write_of_a_stranger(check: str, message: str) -> bool:
    """The stateful phase links a created group to its member writes, whose body names a user or
    an application it makes up: the API answers 404 for that stranger (by design: an id the
    organization does not have is not_found), which the check takes for the group gone missing.
    Every other check still holds these calls to the document."""
    return check == "ensure_resource_availability" and "/groups/{group_id}/" in message


def run(schema: schemathesis.BaseSchema, *, at_least: int) -> list[str]:
    """Every failure and error of a full engine run, described as the CLI would."""
    problems: list[str] = []
    tested = 0
    for event in from_schema(schema).execute():
        if isinstance(event, engine_events.ScenarioFinished):
            tested += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        if _member_write_of_a_stranger(check.name, failure.message):
                            continue
                        problems.append(
                            f"{event.label} [{check.name}] {failure.title}: {failure.message}\n"
                            f"{check.failure_info.code_sample}"
                        )
                    elif check.status == Status.ERROR:
                        problems.append(f"{event.label} [{check.name}] crashed on case {case_id}")
        elif isinstance(event, engine_events.NonFatalError):
            problems.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, engine_events.FatalError):
            problems.append(f"fatal: {event.exception!r}")
    assert tested >= at_least, f"only {tested} cases ran"  # the run really exercised the API
    return problems


@pytest.fixture
def api_world(acme, owner, settings):
    """An organization with data in every list, and the owner's key (the rate limit is off: the
    run sends a few thousand requests in a minute)."""
    settings.API_RATE_LIMIT = 0
    ProjectFactory(organization=acme)
    ApplicationFactory(organization=acme)
    make_events(acme, 20)
    _, secret = api_key_for(owner, acme)
    seal(acme.pk)  # a signed head, so that the integrity proofs answer too
    return secret


@pytest.mark.django_db(transaction=True)
def test_the_api_conforms_to_its_openapi_document(live_server, acme, api_world, caplog):
    schema = schemathesis.openapi.from_dict(
        document(), config=conformance_config(live_server.url, api_world, checks=CHECKS)
    )
    for hook in schemathesis_hooks.hooks(acme):
        schema.hook(hook)
    assert run(schema, at_least=2000) == []
    assert not [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
