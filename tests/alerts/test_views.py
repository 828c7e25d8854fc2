from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django.utils.html import escape

from alerts.models import Alert, AlertRuleSetting, CustomAlertRule, NotificationContact
from alerts.rules import PRECONFIGURED_BY_NAME
from alerts.services import alerts_evaluate
from audit.models import Event
from tests.alerts.conftest import activate, forbidden_events
from tests.conftest import HX_HEADERS

pytestmark = pytest.mark.django_db

URL = "/audit-trail/alerting/"
NEW_RULE = "/audit-trail/alerting/custom-rules/new/"


def _save(client, region="fr-par", **checked):
    return client.post(f"{URL}?region={region}", {f"rule_{name}": "on" for name in checked})


def test_the_tab_lists_the_five_preconfigured_rules_with_scaleway_names_and_descriptions(owner_client):
    html = owner_client.get(URL).content.decode()
    for rule in PRECONFIGURED_BY_NAME.values():
        assert rule.name in html and escape(rule.description) in html
    assert "Save changes" in html
    assert 'nonce="' in html and "js/alerts.js" in html


def test_saving_activates_rules_per_region_records_an_event_and_confirms(owner_client, acme):
    response = _save(owner_client, region="nl-ams", ApiKeyCreated=True, HttpForbiddenErrorRateHigh=True)
    assert response.status_code == 302 and response["Location"] == f"{URL}?region=nl-ams"
    enabled = AlertRuleSetting.objects.filter(organization=acme, enabled=True)
    assert {(s.region, s.rule_name) for s in enabled} == {
        ("nl-ams", "ApiKeyCreated"),
        ("nl-ams", "HttpForbiddenErrorRateHigh"),
    }
    event = Event.objects.get(organization_id=acme.pk, method_name="SetEnabledAlertRules")
    assert (event.product_name, event.service_name, event.region, event.status_code) == (
        "audit-trail",
        "scaleway.audit_trail.v1alpha1.Api",
        "nl-ams",
        200,
    )
    assert {r["name"] for r in event.resources} == {"ApiKeyCreated", "HttpForbiddenErrorRateHigh"}
    assert {r["type"] for r in event.resources} == {"audit_trail_alert_rule"}
    page = owner_client.get(response["Location"]).content.decode()
    assert "Your changes have been saved" in page
    assert 'id="id_rule_ApiKeyCreated" checked' in page
    assert (
        'id="id_rule_ApiKeyCreated" checked' not in owner_client.get(f"{URL}?region=fr-par").content.decode()
    )


def test_unchecking_a_rule_deactivates_it(owner_client, acme):
    activate(acme, "ApiKeyCreated", "ApiKeyDeleted")
    _save(owner_client, ApiKeyDeleted=True)
    assert set(
        AlertRuleSetting.objects.filter(organization=acme, enabled=True).values_list("rule_name", flat=True)
    ) == {"ApiKeyDeleted"}


def test_an_auditor_sees_the_rules_but_cannot_change_them_and_the_refusal_is_recorded(auditor_client, acme):
    html = auditor_client.get(URL).content.decode()
    assert "ApiKeyCreated" in html and "Save changes" not in html and "disabled" in html
    response = _save(auditor_client, ApiKeyCreated=True)
    assert response.status_code == 403
    assert not AlertRuleSetting.objects.filter(organization=acme).exists()
    assert Event.objects.filter(
        organization_id=acme.pk, method_name="SetEnabledAlertRules", status_code=403
    ).exists()


def test_a_member_without_rights_gets_403_and_a_recorded_refusal(member_client, acme):
    assert member_client.get(URL).status_code == 403
    assert Event.objects.filter(
        organization_id=acme.pk, method_name="ListAlertRules", status_code=403
    ).exists()


def test_an_audit_trail_full_access_member_may_save(acme, client):
    from tests.conftest import _member

    user = _member(acme, "admin@acme.test", "AuditTrailFullAccess")
    client.force_login(user)
    assert _save(client, ApiKeyDeleted=True).status_code == 302
    assert AlertRuleSetting.objects.get(organization=acme).rule_name == "ApiKeyDeleted"


def test_a_bad_region_falls_back_to_fr_par(owner_client):
    assert owner_client.get(f"{URL}?region=<script>").status_code == 200


def test_fired_alerts_link_to_their_window_on_the_events_page(
    owner_client, acme, django_capture_on_commit_callbacks
):
    activate(acme, "HttpForbiddenErrorRateHigh")
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 21, spacing=timedelta(seconds=1))
    html = owner_client.get(URL).content.decode()
    assert "HttpForbiddenErrorRateHigh" in html and "21 events" in html
    assert "/audit-trail/events/?region=fr-par&amp;after=" in html and "status=403" in html
    # The window says which day it was, with its offset, not only a time of day.
    alert = Alert.objects.get(organization=acme)
    start = timezone.localtime(alert.window_start, timezone=ZoneInfo("Europe/Paris"))
    assert f"{start:%Y-%m-%d %H:%M:%S} +0" in html


def test_the_fired_alerts_partial_and_its_query_count(
    owner_client, acme, django_assert_num_queries, django_capture_on_commit_callbacks
):
    activate(acme, "HttpForbiddenErrorRateHigh")
    start = timezone.now() - timedelta(hours=5)
    with django_capture_on_commit_callbacks(execute=True):
        for burst in range(3):
            forbidden_events(acme, 21, start=start + burst * timedelta(hours=1), spacing=timedelta(seconds=1))
    headers = {**HX_HEADERS, "HX-Target": "fired-alerts"}
    # session, user, organizations, rule settings, custom rules, alert count, alert page
    with django_assert_num_queries(7):
        html = owner_client.get(URL, headers=headers).content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="fired-alerts"')
    assert html.count("HttpForbiddenErrorRateHigh") == 3
    with django_assert_num_queries(7):
        full = owner_client.get(URL).content.decode()
    assert "<html" in full
    restore = {**HX_HEADERS, "HX-History-Restore-Request": "true"}
    assert "<html" in owner_client.get(URL, headers=restore).content.decode()


def test_a_bad_cel_expression_gets_a_clear_error_and_nothing_is_saved(owner_client, acme):
    data = {
        "name": "Probe",
        "query": "status_code ==",
        "occurrences": 1,
        "evaluation_window": 300,
        "severity": "info",
        "action": "save",
    }
    html = owner_client.post(NEW_RULE, data).content.decode()
    assert "Syntax error at column 15: the expression ends too early." in html
    assert not CustomAlertRule.objects.exists()
    data["query"] = "status_cod == 403"
    assert "Unknown field status_cod" in owner_client.post(NEW_RULE, data).content.decode()
    data["query"] = "status_code + 1"
    assert "must be true or false" in owner_client.post(NEW_RULE, data).content.decode()


def test_the_backtest_counts_firings_on_real_events(owner_client, acme):
    forbidden_events(acme, 7, start=timezone.now() - timedelta(days=2))
    forbidden_events(acme, 3, start=timezone.now() - timedelta(days=40))  # too old
    data = {
        "name": "Probe",
        "query": "status_code == 403",
        "occurrences": 1,
        "evaluation_window": 300,
        "severity": "info",
        "action": "backtest",
    }
    html = owner_client.post(NEW_RULE, data).content.decode()
    assert "Would have fired <strong data-backtest-count>7</strong> times in the last 30 days" in html
    partial = owner_client.post(
        NEW_RULE, data, headers={**HX_HEADERS, "HX-Target": "backtest"}
    ).content.decode()
    assert '<div id="query-errors" hx-swap-oob="true"></div>' in partial and ">7<" in partial
    assert "<html" not in partial
    data["occurrences"] = 5
    assert "data-backtest-count>1<" in owner_client.post(NEW_RULE, data).content.decode()
    assert not CustomAlertRule.objects.exists()


def test_creating_a_custom_rule_records_an_event_and_shows_it_on_the_tab(owner_client, acme):
    data = {
        "name": "Secrets deleted",
        "description": "d",
        "query": 'method_name == "DeleteSecret"',
        "occurrences": 1,
        "evaluation_window": 300,
        "severity": "critical",
        "enabled": "on",
        "action": "save",
    }
    response = owner_client.post(f"{NEW_RULE}?region=fr-par", data)
    assert response.status_code == 302
    rule = CustomAlertRule.objects.get(organization=acme)
    assert (rule.region, rule.severity, rule.enabled) == ("fr-par", "critical", True)
    event = Event.objects.get(organization_id=acme.pk, method_name="CreateCustomAlertRule")
    assert event.resources[0]["type"] == "audit_trail_custom_alert_rule"
    assert "Secrets deleted" in owner_client.get(URL).content.decode()
    # Unchecking it on the tab deactivates it.
    owner_client.post(URL, {})
    rule.refresh_from_db()
    assert rule.enabled is False
    assert Event.objects.filter(method_name="SetEnabledCustomAlertRules").exists()


def test_an_auditor_cannot_create_custom_rules(auditor_client, acme):
    assert auditor_client.get(NEW_RULE).status_code == 403
    assert Event.objects.filter(method_name="CreateCustomAlertRule", status_code=403).exists()


def test_deleting_a_custom_rule_of_another_organization_is_404(owner_client, outsider):
    from alerts.services import custom_alert_rule_create
    from audit.services import Actor
    from iam.models import Organization

    globex = Organization.objects.get(name="Globex")
    rule = custom_alert_rule_create(
        actor=Actor.of(outsider), organization=globex, region="fr-par", name="x", query="true"
    )
    assert owner_client.post(f"/audit-trail/alerting/custom-rules/{rule.pk}/delete/").status_code == 404
    assert CustomAlertRule.objects.filter(pk=rule.pk).exists()


# --- contacts ----------------------------------------------------------------------------------------


def test_adding_a_contact_validates_the_address_and_records_an_event(owner_client, acme):
    bad = owner_client.post("/contacts/", {"email": "not-an-address", "types": ["security"]})
    assert bad.status_code == 200 and "Enter a valid email address." in bad.content.decode()
    ok = owner_client.post("/contacts/", {"email": "SOC@Acme.test", "types": ["security", "technical"]})
    assert ok.status_code == 302
    contact = NotificationContact.objects.get(organization=acme)
    assert (contact.email, contact.types) == ("soc@acme.test", ["Security", "Technical"])
    assert Event.objects.filter(
        organization_id=acme.pk, method_name="CreateContact", product_name="account"
    ).exists()
    dup = owner_client.post("/contacts/", {"email": "soc@acme.test", "types": ["billing"]})
    assert "already a contact" in dup.content.decode()


def test_updating_and_deleting_a_contact(owner_client, acme, security_contact):
    prefix = str(security_contact.pk)
    owner_client.post(f"/contacts/{prefix}/", {f"{prefix}-types": ["billing"]})
    security_contact.refresh_from_db()
    assert security_contact.types == ["Billing"]
    owner_client.post(f"/contacts/{prefix}/delete/")
    assert not NotificationContact.objects.exists()


def test_contacts_need_contacts_permissions(auditor_client, acme, client):
    assert auditor_client.get("/contacts/").status_code == 403
    from tests.conftest import _member

    reader = _member(acme, "reader@acme.test", "NotificationManagerReadOnly")
    client.force_login(reader)
    assert client.get("/contacts/").status_code == 200
    assert client.post("/contacts/", {"email": "x@acme.test", "types": ["security"]}).status_code == 403
    assert Event.objects.filter(method_name="CreateContact", status_code=403).exists()


def test_the_contacts_page_query_count(
    owner_client, acme, security_contact, billing_contact, django_assert_num_queries
):
    with django_assert_num_queries(4):  # session, user, organizations, contacts
        html = owner_client.get("/contacts/").content.decode()
    assert "sec@acme.test" in html and "billing@acme.test" in html


def test_contacts_of_another_organization_are_not_reachable(outsider_client, security_contact):
    assert "sec@acme.test" not in outsider_client.get("/contacts/").content.decode()
    assert outsider_client.post(f"/contacts/{security_contact.pk}/delete/").status_code == 404


def test_the_tab_has_one_region_drop_down_showing_the_chosen_region(owner_client):
    html = owner_client.get(URL, {"region": "nl-ams"}).content.decode()
    assert html.count('name="region"') == 1
    assert '<option value="nl-ams" selected>nl-ams (Amsterdam)</option>' in html


def test_a_region_with_no_active_rule_says_so_and_where_rules_are_active(owner_client, acme):
    activate(acme, "ApiKeyCreated", "ApiKeyDeleted")
    html = owner_client.get(f"{URL}?region=nl-ams").content.decode()
    assert "No alert is active in Amsterdam (nl-ams)." in html
    assert "Tick the alerts to activate below, then <strong>Save changes</strong>." in html
    assert f'<a href="{URL}?region=fr-par">fr-par</a> (2 rules)' in html
    assert "No alert is active" not in owner_client.get(f"{URL}?region=fr-par").content.decode()


def test_a_reader_is_told_who_can_activate_the_alerts_of_a_region(auditor_client, acme):
    html = auditor_client.get(f"{URL}?region=nl-ams").content.decode()
    assert "No alert is active in Amsterdam (nl-ams)." in html
    assert "<code>AuditTrailFullAccess</code> or <code>OrganizationManager</code> can activate them" in html


def test_a_fired_alert_shows_the_time_of_its_triggering_event_not_of_its_evaluation(owner_client, acme):
    activate(acme, "HttpForbiddenErrorRateHigh")
    start = timezone.now() - timedelta(days=2)
    forbidden_events(acme, 21, start=start, spacing=timedelta(seconds=1))
    # Evaluated now (a worker catching up, or the demo's seed), two days after the burst.
    alerts_evaluate(
        organization_id=acme.pk,
        region="fr-par",
        event_ids=Event.objects.filter(organization_id=acme.pk).values_list("id", flat=True),
    )
    alert = Alert.objects.get(organization=acme)
    html = owner_client.get(URL).content.decode()
    cell = re.search(r'<time datetime="([^"]+)" class="nowrap" title="Evaluated at [^"]+">', html)
    assert cell is not None
    shown = datetime.fromisoformat(cell.group(1))
    assert shown == alert.window_end
    assert shown != alert.fired_at


def test_every_delete_button_on_the_alerting_pages_is_a_danger_button(owner_client, acme, security_contact):
    CustomAlertRule.objects.create(
        organization=acme, region="fr-par", name="Secret deleted", query='method_name == "DeleteSecret"'
    )
    for page in (URL, "/contacts/"):
        html = owner_client.get(page).content.decode()
        deletes = re.findall(r'<button type="submit" class="([^"]+)"[^>]*>Delete', html)
        assert deletes and all("btn-danger-ghost" in classes for classes in deletes), (page, deletes)


def test_the_contacts_have_one_name_everywhere(owner_client, acme):
    for page in (URL, "/contacts/", "/audit-trail/events/"):
        html = owner_client.get(page).content.decode()
        assert "Security contacts" not in html
        assert "otification contacts" in html
