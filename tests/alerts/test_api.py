"""The alert-rule endpoints of the Audit Trail v1alpha1 API (reference §2.8, §2.9), over HTTP."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from alerts.forms import CustomAlertRuleForm
from alerts.models import AlertRuleSetting, CustomAlertRule
from alerts.rules import PRECONFIGURED, PRECONFIGURED_BY_NAME, Severity
from api import alerts as api
from api.openapi import SCHEMAS
from audit.models import Event
from iam.models import Organization
from tests.alerts.conftest import activate
from tests.api.conftest import ApiClient, api_key_for

pytestmark = pytest.mark.django_db

BASE = "/audit-trail/v1alpha1/regions/fr-par"
RULES = f"{BASE}/alert-rules"
CUSTOM = f"{BASE}/custom-alert-rules"
# Pinned: the ids are part of the API (scripts keep them), so they must never change.
RULE_IDS = {
    "ApiKeyCreated": "2d24dce1-cb7b-5e7c-b660-30fc7318e960",
    "ApiKeyCreationUnauthorized": "fd88ff74-cb6a-5918-92f1-b0cf8cef0b3f",
    "ApiKeyDeleted": "d4976d09-2a0f-5f2b-8b00-82a908c54a72",
    "ApiKeyDeletionUnauthorized": "b5554a84-e451-51c5-ab05-c611672465d4",
    "HttpForbiddenErrorRateHigh": "69b82766-0853-5bfa-929f-0fd6e1a01bfa",
}


@pytest.fixture
def owner_api(owner, acme):
    return ApiClient(api_key_for(owner, acme)[1])


@pytest.fixture
def auditor_api(auditor, acme):
    return ApiClient(api_key_for(auditor, acme)[1])


@pytest.fixture
def globex(outsider):
    return Organization.objects.get(owner=outsider)


@pytest.fixture
def globex_rule(globex):
    return CustomAlertRule.objects.create(organization=globex, region="fr-par", name="theirs", query="true")


def send(client, method, path, body):
    """A body as the SDK sends it: JSON, with Content-Type (bytes are sent as they are)."""
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.generic(method, path, data, content_type="application/json; charset=utf-8")


def custom_rule(acme, name="secrets", region="fr-par", **fields):
    return CustomAlertRule.objects.create(
        organization=acme, region=region, name=name, query='product_name == "secret-manager"', **fields
    )


def enabled_settings(acme, region="fr-par"):
    return set(
        AlertRuleSetting.objects.filter(organization=acme, region=region, enabled=True).values_list(
            "rule_name", flat=True
        )
    )


def events(acme, method):
    return list(
        Event.objects.filter(organization_id=acme.pk, method_name=method).order_by("recorded_at", "id")
    )


# --- preconfigured rules -------------------------------------------------------------------------


def test_preconfigured_rule_ids_are_stable_uuids_derived_from_their_names():
    assert {rule.name: str(rule.id) for rule in PRECONFIGURED} == RULE_IDS


def test_list_alert_rules_shows_the_five_rules_with_their_status_in_the_region(
    auditor_api, acme, django_assert_num_queries
):
    activate(acme, "ApiKeyCreated")
    activate(acme, "ApiKeyDeleted", region="nl-ams")
    with django_assert_num_queries(4):  # key, membership, policy rules, settings
        response = auditor_api.get(RULES, {"organization_id": str(acme.pk)})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["total_count"] == 5
    assert body["alert_rules"][0] == {
        "id": RULE_IDS["ApiKeyCreated"],
        "name": "ApiKeyCreated",
        "description": PRECONFIGURED_BY_NAME["ApiKeyCreated"].description,
        "status": "enabled",
    }
    assert {r["name"]: r["status"] for r in body["alert_rules"]} == {
        "ApiKeyCreated": "enabled",
        "ApiKeyCreationUnauthorized": "disabled",
        "ApiKeyDeleted": "disabled",
        "ApiKeyDeletionUnauthorized": "disabled",
        "HttpForbiddenErrorRateHigh": "disabled",
    }
    amsterdam = auditor_api.get("/audit-trail/v1alpha1/regions/nl-ams/alert-rules").json()
    assert [r["name"] for r in amsterdam["alert_rules"] if r["status"] == "enabled"] == ["ApiKeyDeleted"]


def test_list_alert_rules_filters_by_status_and_pages_by_number(auditor_api, acme):
    activate(acme, "ApiKeyCreated", "HttpForbiddenErrorRateHigh")
    enabled = auditor_api.get(RULES, {"status": "enabled"}).json()
    assert [r["name"] for r in enabled["alert_rules"]] == ["ApiKeyCreated", "HttpForbiddenErrorRateHigh"]
    assert enabled["total_count"] == 2
    assert auditor_api.get(RULES, {"status": "disabled"}).json()["total_count"] == 3
    assert auditor_api.get(RULES, {"status": "unknown_status"}).json()["total_count"] == 5  # Go's default
    assert auditor_api.get(RULES, {"status": "enabling"}).json() == {"alert_rules": [], "total_count": 0}
    second = auditor_api.get(RULES, {"page": "2", "page_size": "2"}).json()
    assert [r["name"] for r in second["alert_rules"]] == ["ApiKeyDeleted", "ApiKeyDeletionUnauthorized"]
    assert second["total_count"] == 5
    bad = auditor_api.get(RULES, {"status": "on", "page": "0"})
    assert bad.status_code == 400
    assert {d["argument_name"] for d in bad.json()["details"]} == {"status", "page"}


def test_enable_alert_rules_changes_the_consoles_setting_and_records_an_event(owner_api, owner_client, acme):
    response = owner_api.post(
        f"{BASE}/enable-alert-rules",
        {"organization_id": str(acme.pk), "alert_rule_ids": [RULE_IDS["ApiKeyCreated"]]},
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "alert_rules": [
            {
                "id": RULE_IDS["ApiKeyCreated"],
                "name": "ApiKeyCreated",
                "description": PRECONFIGURED_BY_NAME["ApiKeyCreated"].description,
                "status": "enabled",
            }
        ]
    }
    assert enabled_settings(acme) == {"ApiKeyCreated"}
    assert 'id="id_rule_ApiKeyCreated" checked' in owner_client.get("/audit-trail/alerting/").content.decode()
    [event] = events(acme, "EnableAlertRules")
    assert (event.product_name, event.region, event.status_code) == ("audit-trail", "fr-par", 200)
    assert event.resources == [
        {"id": RULE_IDS["ApiKeyCreated"], "type": "audit_trail_alert_rule", "name": "ApiKeyCreated"}
    ]
    assert event.user_agent.startswith("scaleway-sdk-python/")


def test_disable_alert_rules_deactivates_only_the_rules_named(owner_api, acme):
    activate(acme, "ApiKeyCreated", "ApiKeyDeleted")
    response = send(
        owner_api, "POST", f"{BASE}/disable-alert-rules", {"alert_rule_ids": [RULE_IDS["ApiKeyDeleted"]]}
    )
    assert [(r["name"], r["status"]) for r in response.json()["alert_rules"]] == [
        ("ApiKeyDeleted", "disabled")
    ]
    assert enabled_settings(acme) == {"ApiKeyCreated"}
    assert len(events(acme, "DisableAlertRules")) == 1


def test_set_enabled_alert_rules_replaces_the_enabled_set_in_the_region(owner_api, acme):
    activate(acme, "ApiKeyCreated", "ApiKeyDeleted")
    activate(acme, "ApiKeyCreated", region="nl-ams")
    wanted = [RULE_IDS["ApiKeyDeleted"], RULE_IDS["HttpForbiddenErrorRateHigh"]]
    response = send(
        owner_api, "PATCH", RULES, {"organization_id": str(acme.pk), "enabled_alert_rule_ids": wanted}
    )
    assert response.status_code == 200
    assert {r["name"]: r["status"] for r in response.json()["alert_rules"]} == {
        "ApiKeyCreated": "disabled",
        "ApiKeyCreationUnauthorized": "disabled",
        "ApiKeyDeleted": "enabled",
        "ApiKeyDeletionUnauthorized": "disabled",
        "HttpForbiddenErrorRateHigh": "enabled",
    }
    assert enabled_settings(acme) == {"ApiKeyDeleted", "HttpForbiddenErrorRateHigh"}
    assert enabled_settings(acme, "nl-ams") == {"ApiKeyCreated"}
    [event] = events(acme, "SetEnabledAlertRules")
    assert {r["name"] for r in event.resources} == {"ApiKeyCreated", "HttpForbiddenErrorRateHigh"}  # changed
    send(owner_api, "PATCH", RULES, {})  # no list: nothing stays enabled
    assert enabled_settings(acme) == set()


def test_unknown_or_malformed_alert_rule_ids_change_nothing(owner_api, acme):
    activate(acme, "ApiKeyCreated")
    unknown = str(uuid.uuid4())
    response = send(
        owner_api,
        "POST",
        f"{BASE}/disable-alert-rules",
        {"alert_rule_ids": [RULE_IDS["ApiKeyCreated"], unknown]},
    )
    assert response.status_code == 404
    assert response.json() == {
        "message": "resource is not found",
        "type": "not_found",
        "resource": "alert_rule",
        "resource_id": unknown,
    }
    malformed = send(owner_api, "PATCH", RULES, {"enabled_alert_rule_ids": ["ApiKeyCreated", 7]})
    assert malformed.status_code == 400
    assert [d["argument_name"] for d in malformed.json()["details"]] == [
        "enabled_alert_rule_ids[0]",
        "enabled_alert_rule_ids[1]",
    ]
    assert send(owner_api, "PATCH", RULES, {"enabled_alert_rule_ids": "all"}).status_code == 400
    assert send(owner_api, "PATCH", RULES, ["not", "an", "object"]).status_code == 400
    assert enabled_settings(acme) == {"ApiKeyCreated"}
    assert not Event.objects.filter(organization_id=acme.pk, product_name="audit-trail").exists()


def test_the_auditors_key_may_read_rules_but_its_writes_are_refused_and_recorded(auditor_api, auditor, acme):
    assert auditor_api.get(RULES).status_code == 200
    for method, path, body in [
        ("POST", f"{BASE}/enable-alert-rules", {"alert_rule_ids": [RULE_IDS["ApiKeyCreated"]]}),
        ("PATCH", RULES, {"enabled_alert_rule_ids": [RULE_IDS["ApiKeyCreated"]]}),
        ("POST", CUSTOM, {"name": "mine", "query": "true", "occurrences": 1}),
    ]:
        response = send(auditor_api, method, path, body)
        assert response.status_code == 403
        assert response.json() == {
            "message": "insufficient permissions",
            "type": "permissions_denied",
            "details": [{"resource": "audit_trail", "action": "write"}],
        }
    refusals = Event.objects.filter(organization_id=acme.pk, status_code=403).order_by("recorded_at")
    assert [(e.method_name, e.principal_id, e.region) for e in refusals] == [
        ("EnableAlertRules", auditor.pk, "fr-par"),
        ("SetEnabledAlertRules", auditor.pk, "fr-par"),
        ("CreateCustomAlertRule", auditor.pk, "fr-par"),
    ]
    assert refusals[0].request_body == {"alert_rule_ids": [RULE_IDS["ApiKeyCreated"]]}
    assert enabled_settings(acme) == set()
    assert not CustomAlertRule.objects.exists()


def test_a_key_without_audit_trail_rights_cannot_list_rules(member_without_rights, acme):
    member_api = ApiClient(api_key_for(member_without_rights, acme)[1])
    response = member_api.get(f"{CUSTOM}")
    assert response.status_code == 403
    assert Event.objects.get(organization_id=acme.pk, status_code=403).method_name == "ListCustomAlertRules"


def test_another_organization_id_is_refused_and_an_unknown_region_is_invalid(owner_api, globex):
    response = owner_api.get(RULES, {"organization_id": str(globex.pk)})
    assert response.status_code == 403
    assert response.json()["type"] == "permissions_denied"
    for path in (
        "/audit-trail/v1alpha1/regions/xx-yyy/alert-rules",
        "/audit-trail/v1alpha1/regions/par/alert-rules",
    ):
        invalid = owner_api.get(path)
        assert invalid.status_code == 400
        assert invalid.json()["details"][0]["argument_name"] == "region"


def test_without_a_key_the_answer_is_denied_authentication(client):
    response = client.get(RULES)
    assert response.status_code == 401
    assert response.json()["type"] == "denied_authentication"


# --- custom rules --------------------------------------------------------------------------------


def test_create_custom_alert_rule_answers_the_rule_and_records_an_event(owner_api, owner, acme):
    response = send(
        owner_api,
        "POST",
        CUSTOM,
        {
            "organization_id": str(acme.pk),
            "name": "Secret reads refused",
            "query": ' status_code == 403 && product_name == "secret-manager" ',
            "occurrences": 5,
            "evaluation_window": "600.000000000s",  # as Go's scw.Duration sends it
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    rule = CustomAlertRule.objects.get(organization=acme, region="fr-par")
    assert body == {
        "id": str(rule.pk),
        "name": "Secret reads refused",
        "description": None,
        "status": "enabled",
        "query": 'status_code == 403 && product_name == "secret-manager"',
        "evaluation_window": "600s",
        "occurrences": 5,
        "severity": "info",
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert body["created_at"].endswith("Z")
    assert (rule.evaluation_window, rule.severity, rule.enabled) == (timedelta(minutes=10), "info", True)
    [event] = events(acme, "CreateCustomAlertRule")
    assert (event.principal_id, event.region) == (owner.pk, "fr-par")
    assert event.resources == [
        {"id": str(rule.pk), "type": "audit_trail_custom_alert_rule", "name": rule.name}
    ]


def test_create_accepts_severity_description_and_a_plain_seconds_window(owner_api, acme):
    body = send(
        owner_api,
        "POST",
        CUSTOM,
        {
            "name": "keys",
            "description": "Any key change",
            "query": 'method_name.endsWith("APIKey")',
            "occurrences": 1,
            "evaluation_window": "300s",
            "severity": "critical",
        },
    ).json()
    assert (body["severity"], body["description"], body["evaluation_window"]) == (
        "critical",
        "Any key change",
        "300s",
    )
    unknown = send(
        owner_api,
        "POST",
        CUSTOM,
        {"name": "k2", "query": "true", "occurrences": 1, "severity": "unknown_severity"},
    )
    assert unknown.json()["severity"] == Severity.INFO
    assert "evaluation_window" in unknown.json() and unknown.json()["evaluation_window"] == "300s"


def test_a_bad_cel_expression_is_refused_with_the_consoles_message(owner_api, acme):
    query = "status_code == "
    response = send(owner_api, "POST", CUSTOM, {"name": "broken", "query": query, "occurrences": 1})
    assert response.status_code == 400
    form = CustomAlertRuleForm(
        {"name": "broken", "query": query, "occurrences": 1, "evaluation_window": 300, "severity": "info"},
        organization=acme,
        region="fr-par",
    )
    assert not form.is_valid()
    assert response.json() == {
        "message": "invalid argument(s)",
        "type": "invalid_arguments",
        "details": [
            {"argument_name": "query", "reason": "constraint", "help_message": form.errors["query"][0]}
        ],
    }
    for bad in ("nonsense_field == 1", "status_code + 1", "lookup(method_name)"):
        detail = send(owner_api, "POST", CUSTOM, {"name": "b", "query": bad, "occurrences": 1}).json()[
            "details"
        ]
        assert [d["argument_name"] for d in detail] == ["query"]
    assert not CustomAlertRule.objects.exists()
    assert not events(acme, "CreateCustomAlertRule")


def test_create_names_every_missing_or_invalid_argument(owner_api):
    response = send(owner_api, "POST", CUSTOM, {"evaluation_window": "5m", "severity": "loud"})
    assert response.status_code == 400
    assert [(d["argument_name"], d["reason"]) for d in response.json()["details"]] == [
        ("name", "required"),
        ("query", "required"),
        ("occurrences", "required"),
        ("evaluation_window", "format"),
        ("severity", "constraint"),
    ]
    for window in ("300.5s", "30s", "90000s", 300):
        bad = send(
            owner_api,
            "POST",
            CUSTOM,
            {"name": "w", "query": "true", "occurrences": 1, "evaluation_window": window},
        )
        assert bad.status_code == 400
        assert bad.json()["details"][0]["argument_name"] == "evaluation_window"
    zero = send(owner_api, "POST", CUSTOM, {"name": "w", "query": "true", "occurrences": 0})
    assert zero.json()["details"] == [
        {
            "argument_name": "occurrences",
            "reason": "constraint",
            "help_message": "occurrences must be between 1 and 100000",
        }
    ]
    assert send(owner_api, "POST", CUSTOM, b"{not json").status_code == 400
    assert not CustomAlertRule.objects.exists()


def test_a_custom_rule_name_is_unique_per_region_whatever_its_case(owner_api, acme):
    custom_rule(acme, name="Secrets")
    response = send(owner_api, "POST", CUSTOM, {"name": "secrets", "query": "true", "occurrences": 1})
    assert response.status_code == 400
    assert response.json()["details"][0]["argument_name"] == "name"
    both = send(owner_api, "POST", CUSTOM, {"name": "SECRETS", "query": "status_code ==", "occurrences": 1})
    assert [d["argument_name"] for d in both.json()["details"]] == ["query", "name"]  # one answer, all errors
    amsterdam = send(
        owner_api,
        "POST",
        "/audit-trail/v1alpha1/regions/nl-ams/custom-alert-rules",
        {"name": "secrets", "query": "true", "occurrences": 1},
    )
    assert amsterdam.status_code == 200
    assert CustomAlertRule.objects.get(pk=amsterdam.json()["id"]).region == "nl-ams"


def test_list_custom_alert_rules_of_the_region_filters_and_pages(
    auditor_api, acme, globex_rule, django_assert_num_queries
):
    for name in ("a", "b", "c"):
        custom_rule(acme, name=name, enabled=name != "b")
    custom_rule(acme, name="elsewhere", region="nl-ams")
    with django_assert_num_queries(5):  # key, membership, policy rules, page, count
        body = auditor_api.get(CUSTOM, {"page_size": "2"}).json()
    assert [r["name"] for r in body["custom_alert_rules"]] == ["a", "b"]
    assert body["total_count"] == 3
    assert [
        r["name"]
        for r in auditor_api.get(CUSTOM, {"page": "2", "page_size": "2"}).json()["custom_alert_rules"]
    ] == ["c"]
    disabled = auditor_api.get(CUSTOM, {"status": "disabled"}).json()
    assert [(r["name"], r["status"]) for r in disabled["custom_alert_rules"]] == [("b", "disabled")]
    assert auditor_api.get(CUSTOM, {"status": "disabling"}).json()["total_count"] == 0


def test_update_changes_only_the_name_and_description(owner_api, acme):
    rule = custom_rule(acme, description="old", occurrences=3)
    response = send(
        owner_api,
        "PATCH",
        f"{CUSTOM}/{rule.pk}",
        {"name": "Secret Manager activity", "query": "true", "occurrences": 99},
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["name"], response.json()["description"]) == ("Secret Manager activity", "old")
    rule.refresh_from_db()
    assert (rule.name, rule.query, rule.occurrences) == (
        "Secret Manager activity",
        'product_name == "secret-manager"',
        3,
    )
    assert send(owner_api, "PATCH", f"{CUSTOM}/{rule.pk}", {"description": ""}).json()["description"] is None
    assert [e.request_body for e in events(acme, "UpdateCustomAlertRule")] == [
        {
            "organization_id": str(acme.pk),
            "custom_alert_rule_id": str(rule.pk),
            "name": "Secret Manager activity",
        },
        {"organization_id": str(acme.pk), "custom_alert_rule_id": str(rule.pk), "description": ""},
    ]
    custom_rule(acme, name="taken")
    assert send(owner_api, "PATCH", f"{CUSTOM}/{rule.pk}", {"name": "TAKEN"}).status_code == 400


def test_a_custom_rule_of_another_organization_or_region_is_not_found(owner_api, acme, globex_rule):
    amsterdam = custom_rule(acme, region="nl-ams")
    for rule_id in (globex_rule.pk, amsterdam.pk, "not-a-uuid"):
        for method in ("PATCH", "DELETE"):
            response = send(owner_api, method, f"{CUSTOM}/{rule_id}", {"name": "mine"})
            assert response.status_code == 404, (method, rule_id)
            assert response.json()["type"] == "not_found"
            assert response.json()["resource"] == "custom_alert_rule"
    for path, key in (
        (f"{BASE}/enable-custom-alert-rules", "custom_alert_rule_ids"),
        (f"{BASE}/disable-custom-alert-rules", "custom_alert_rule_ids"),
        (CUSTOM, "enabled_custom_alert_rule_ids"),
    ):
        method = "PUT" if path == CUSTOM else "POST"
        response = send(owner_api, method, path, {key: [str(globex_rule.pk)]})
        assert response.status_code == 404
        assert response.json()["resource_id"] == str(globex_rule.pk)
    globex_rule.refresh_from_db()
    assert (globex_rule.name, globex_rule.enabled) == ("theirs", True)
    assert CustomAlertRule.objects.filter(pk=amsterdam.pk).exists()


def test_delete_removes_the_rule_and_records_an_event(owner_api, acme):
    rule = custom_rule(acme)
    response = owner_api.delete(f"{CUSTOM}/{rule.pk}")
    assert response.status_code == 204
    assert not CustomAlertRule.objects.filter(pk=rule.pk).exists()
    [event] = events(acme, "DeleteCustomAlertRule")
    assert event.resources == [
        {"id": str(rule.pk), "type": "audit_trail_custom_alert_rule", "name": "secrets"}
    ]
    assert owner_api.delete(f"{CUSTOM}/{rule.pk}").status_code == 404


def test_the_auditors_delete_is_refused_and_recorded_with_the_rule(auditor_api, acme):
    rule = custom_rule(acme)
    assert auditor_api.delete(f"{CUSTOM}/{rule.pk}").status_code == 403
    refusal = Event.objects.get(organization_id=acme.pk, status_code=403)
    assert refusal.method_name == "DeleteCustomAlertRule"
    assert refusal.resources == [{"id": str(rule.pk), "type": "audit_trail_custom_alert_rule"}]
    assert CustomAlertRule.objects.filter(pk=rule.pk).exists()


def test_enable_disable_and_set_enabled_custom_rules(owner_api, acme):
    a, b, c = (custom_rule(acme, name=n, enabled=False) for n in "abc")
    enabled = send(
        owner_api,
        "POST",
        f"{BASE}/enable-custom-alert-rules",
        {"custom_alert_rule_ids": [str(a.pk), str(b.pk)]},
    )
    assert [(r["name"], r["status"]) for r in enabled.json()["custom_alert_rules"]] == [
        ("a", "enabled"),
        ("b", "enabled"),
    ]
    disabled = send(
        owner_api, "POST", f"{BASE}/disable-custom-alert-rules", {"custom_alert_rule_ids": [str(a.pk)]}
    )
    assert [(r["name"], r["status"]) for r in disabled.json()["custom_alert_rules"]] == [("a", "disabled")]
    assert set(CustomAlertRule.objects.filter(enabled=True).values_list("name", flat=True)) == {"b"}
    replaced = send(owner_api, "PUT", CUSTOM, {"enabled_custom_alert_rule_ids": [str(c.pk)]})
    assert [(r["name"], r["status"]) for r in replaced.json()["custom_alert_rules"]] == [
        ("a", "disabled"),
        ("b", "disabled"),
        ("c", "enabled"),
    ]
    assert set(CustomAlertRule.objects.filter(enabled=True).values_list("name", flat=True)) == {"c"}
    assert [
        len(events(acme, m))
        for m in ("EnableCustomAlertRules", "DisableCustomAlertRules", "SetEnabledCustomAlertRules")
    ] == [1, 1, 1]
    [event] = events(acme, "EnableCustomAlertRules")
    assert {r["name"] for r in event.resources} == {"a", "b"}


# --- the OpenAPI document ------------------------------------------------------------------------


def test_the_openapi_document_agrees_with_the_api_on_custom_rules():
    schema = SCHEMAS["CreateCustomAlertRuleRequest"]["properties"]
    assert schema["severity"]["enum"] == ["unknown_severity", *api.SEVERITIES]
    assert schema["occurrences"]["maximum"] == api.OCCURRENCES_MAX
    assert schema["name"]["maxLength"] == api.NAME_MAX
    assert schema["query"]["maxLength"] == api.QUERY_MAX
    assert str(api.WINDOW_MIN) in schema["evaluation_window"]["description"]
    assert str(api.WINDOW_MAX) in schema["evaluation_window"]["description"]
