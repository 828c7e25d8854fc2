"""Acceptance: the official `scaleway` SDK, unchanged, manages alert rules on a live server."""

from __future__ import annotations

import pytest
from scaleway import Client
from scaleway.audit_trail.v1alpha1 import (
    AlertRuleStatus,
    AuditTrailV1Alpha1API,
    CustomAlertRuleSeverity,
    CustomAlertRuleStatus,
)
from scaleway_core.api import ScalewayException

from alerts.models import CustomAlertRule
from alerts.rules import PRECONFIGURED, PRECONFIGURED_BY_NAME
from audit.models import Event
from tests.api.conftest import api_key_for

pytestmark = pytest.mark.django_db(transaction=True)

TAB = "/audit-trail/alerting/"


def sdk(live_server, organization, principal, region="fr-par") -> AuditTrailV1Alpha1API:
    access_key, secret_key = api_key_for(principal, organization)
    return AuditTrailV1Alpha1API(
        Client(
            access_key=access_key,
            secret_key=secret_key,
            api_url=live_server.url,
            default_region=region,
            default_organization_id=str(organization.pk),
        )
    )


def checked_on_the_tab(client, region="fr-par") -> set[str]:
    """The preconfigured rules whose Active box the console's Alerting Management tab shows ticked."""
    html = client.get(f"{TAB}?region={region}").content.decode()
    return {rule.name for rule in PRECONFIGURED if f'id="id_rule_{rule.name}" checked' in html}


def methods_recorded(organization, status_code=200) -> list[str]:
    return list(
        Event.objects.filter(
            organization_id=organization.pk, product_name="audit-trail", status_code=status_code
        )
        .order_by("recorded_at", "id")
        .values_list("method_name", flat=True)
    )


def test_sdk_lists_enables_disables_and_sets_the_preconfigured_rules_as_the_console_shows_them(
    live_server, acme, owner, owner_client
):
    api = sdk(live_server, acme, owner)
    listed = api.list_alert_rules()
    assert listed.total_count == 5
    assert [(r.name, r.description, r.status) for r in listed.alert_rules] == [
        (rule.name, rule.description, AlertRuleStatus.DISABLED) for rule in PRECONFIGURED
    ]
    ids = {r.name: r.id for r in listed.alert_rules}
    assert ids["ApiKeyCreated"] == str(PRECONFIGURED_BY_NAME["ApiKeyCreated"].id)

    enabled = api.enable_alert_rules(alert_rule_ids=[ids["ApiKeyCreated"], ids["HttpForbiddenErrorRateHigh"]])
    assert {(r.name, r.status) for r in enabled.alert_rules} == {
        ("ApiKeyCreated", AlertRuleStatus.ENABLED),
        ("HttpForbiddenErrorRateHigh", AlertRuleStatus.ENABLED),
    }
    assert checked_on_the_tab(owner_client) == {"ApiKeyCreated", "HttpForbiddenErrorRateHigh"}
    assert checked_on_the_tab(owner_client, "nl-ams") == set()

    disabled = api.disable_alert_rules(alert_rule_ids=[ids["ApiKeyCreated"]])
    assert [(r.name, r.status) for r in disabled.alert_rules] == [("ApiKeyCreated", AlertRuleStatus.DISABLED)]
    assert checked_on_the_tab(owner_client) == {"HttpForbiddenErrorRateHigh"}

    replaced = api.set_enabled_alert_rules(enabled_alert_rule_ids=[ids["ApiKeyDeleted"]])
    assert {r.name for r in replaced.alert_rules if r.status == AlertRuleStatus.ENABLED} == {"ApiKeyDeleted"}
    assert checked_on_the_tab(owner_client) == {"ApiKeyDeleted"}
    assert [r.name for r in api.list_alert_rules_all(status=AlertRuleStatus.ENABLED)] == ["ApiKeyDeleted"]

    assert methods_recorded(acme) == ["EnableAlertRules", "DisableAlertRules", "SetEnabledAlertRules"]
    set_event = Event.objects.get(organization_id=acme.pk, method_name="SetEnabledAlertRules")
    assert (set_event.principal_id, set_event.region) == (owner.pk, "fr-par")
    assert set_event.user_agent.startswith("scaleway-sdk-python/")


def test_sdk_manages_custom_rules_from_creation_to_deletion(live_server, acme, owner, owner_client):
    api = sdk(live_server, acme, owner)
    created = api.create_custom_alert_rule(
        name="Refused secret reads",
        query='status_code == 403 && product_name == "secret-manager"',
        occurrences=5,
        evaluation_window="600s",
        description="Someone probes our secrets",
    )
    assert (created.status, created.severity, created.evaluation_window) == (
        CustomAlertRuleStatus.ENABLED,
        CustomAlertRuleSeverity.INFO,
        "600s",
    )
    assert created.created_at is not None and created.created_at.tzinfo is not None
    assert "Refused secret reads" in owner_client.get(TAB).content.decode()

    with pytest.raises(ScalewayException) as error:
        api.create_custom_alert_rule(name="broken", query="status_code ==", occurrences=1)
    assert error.value.status_code == 400
    body = error.value.response.json()
    assert body["type"] == "invalid_arguments"
    [detail] = body["details"]
    assert (detail["argument_name"], detail["reason"]) == ("query", "constraint")
    assert detail["help_message"].startswith("Syntax error")

    other = api.create_custom_alert_rule(
        name="Key churn",
        query='method_name == "DeleteAPIKey"',
        occurrences=1,
        severity=CustomAlertRuleSeverity.WARNING,
    )
    listed = api.list_custom_alert_rules()
    assert listed.total_count == 2
    assert [r.name for r in listed.custom_alert_rules] == ["Key churn", "Refused secret reads"]

    updated = api.update_custom_alert_rule(custom_alert_rule_id=created.id, name="Secret probing")
    assert (updated.name, updated.description, updated.occurrences) == (
        "Secret probing",
        "Someone probes our secrets",
        5,
    )

    off = api.disable_custom_alert_rules(custom_alert_rule_ids=[created.id, other.id])
    assert {r.status for r in off.custom_alert_rules} == {CustomAlertRuleStatus.DISABLED}
    on = api.enable_custom_alert_rules(custom_alert_rule_ids=[other.id])
    assert [(r.name, r.status) for r in on.custom_alert_rules] == [
        ("Key churn", CustomAlertRuleStatus.ENABLED)
    ]
    replaced = api.set_enabled_custom_alert_rules(enabled_custom_alert_rule_ids=[created.id])
    assert {r.name: r.status for r in replaced.custom_alert_rules} == {
        "Key churn": CustomAlertRuleStatus.DISABLED,
        "Secret probing": CustomAlertRuleStatus.ENABLED,
    }
    assert [r.name for r in api.list_custom_alert_rules_all(status=CustomAlertRuleStatus.ENABLED)] == [
        "Secret probing"
    ]

    api.delete_custom_alert_rule(custom_alert_rule_id=other.id)
    assert list(CustomAlertRule.objects.values_list("name", flat=True)) == ["Secret probing"]
    with pytest.raises(ScalewayException) as missing:
        api.delete_custom_alert_rule(custom_alert_rule_id=other.id)
    assert missing.value.status_code == 404

    assert methods_recorded(acme) == [
        "CreateCustomAlertRule",
        "CreateCustomAlertRule",
        "UpdateCustomAlertRule",
        "DisableCustomAlertRules",
        "EnableCustomAlertRules",
        "SetEnabledCustomAlertRules",
        "DeleteCustomAlertRule",
    ]


def test_sdk_with_the_auditors_key_reads_rules_but_its_writes_are_refused_and_recorded(
    live_server, acme, auditor
):
    api = sdk(live_server, acme, auditor)
    assert api.list_alert_rules().total_count == 5
    assert api.list_custom_alert_rules().total_count == 0
    rule_id = str(PRECONFIGURED_BY_NAME["ApiKeyCreated"].id)
    for call in (
        lambda: api.enable_alert_rules(alert_rule_ids=[rule_id]),
        lambda: api.set_enabled_alert_rules(enabled_alert_rule_ids=[rule_id]),
        lambda: api.create_custom_alert_rule(name="mine", query="true", occurrences=1),
    ):
        with pytest.raises(ScalewayException) as error:
            call()
        assert error.value.status_code == 403
        assert error.value.response.json()["type"] == "permissions_denied"
    assert methods_recorded(acme, status_code=403) == [
        "EnableAlertRules",
        "SetEnabledAlertRules",
        "CreateCustomAlertRule",
    ]
    assert set(Event.objects.filter(status_code=403).values_list("principal_id", flat=True)) == {auditor.pk}
    assert methods_recorded(acme) == []
    assert not CustomAlertRule.objects.exists()
