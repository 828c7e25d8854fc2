"""Alerting Management in a real browser: rules, unsaved changes, custom rules and the e-mail link."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from alerts.models import AlertRuleSetting, CustomAlertRule, NotificationContact
from audit.services import Actor, build_event, record_many
from tests.alerts.conftest import activate, forbidden_events
from tests.factories import PASSWORD

SHOTS = Path(__file__).parent / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login(page: Page, live_server, user) -> None:
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/audit-trail/"))


def test_toggle_rules_save_and_see_them_persist_with_unsaved_changes_protection(
    page: Page, live_server, owner, acme
):
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/alerting/?region=fr-par")
    expect(page.get_by_role("heading", name="Preconfigured alerts")).to_be_visible()
    page.get_by_label("ApiKeyCreated active").check()
    page.get_by_label("HttpForbiddenErrorRateHigh active").check()
    expect(page.get_by_text("You have unsaved changes.")).to_be_visible()
    page.screenshot(path=SHOTS / "alerting_unsaved.png", full_page=True)

    # Leaving now asks first; staying keeps the page and the ticks.
    dialogs: list[str] = []

    def stay(dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.get_by_role("link", name="Events").click(no_wait_after=True)
    page.wait_for_timeout(300)
    assert dialogs == ["beforeunload"]
    assert "/audit-trail/alerting/" in page.url
    page.remove_listener("dialog", stay)

    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Your changes have been saved for fr-par.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("ApiKeyCreated active")).to_be_checked()
    expect(page.get_by_label("HttpForbiddenErrorRateHigh active")).to_be_checked()
    expect(page.get_by_label("ApiKeyDeleted active")).not_to_be_checked()
    expect(page.get_by_text("You have unsaved changes.")).to_be_hidden()
    page.screenshot(path=SHOTS / "alerting_saved.png", full_page=True)
    assert set(
        AlertRuleSetting.objects.filter(organization=acme, enabled=True).values_list("rule_name", flat=True)
    ) == {"ApiKeyCreated", "HttpForbiddenErrorRateHigh"}


def test_a_custom_rule_with_a_bad_expression_shows_the_error_then_its_backtest(
    page: Page, live_server, owner, acme
):
    # Five refused requests two days ago (one per hour): what the backtest will count.
    for hour in range(5):
        forbidden_events(acme, 1, start=timezone.now() - timedelta(days=2, hours=hour))
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/alerting/?region=fr-par")
    page.get_by_role("link", name="Create custom rule").click()
    page.get_by_label("Name").fill("Refused requests")
    page.get_by_label("Expression (CEL)").fill("status_code == ")
    page.get_by_label("Severity").select_option("warning")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("alert")).to_contain_text("Syntax error")
    page.screenshot(path=SHOTS / "alerting_custom_rule_error.png", full_page=True)
    assert not CustomAlertRule.objects.exists()

    page.get_by_label("Expression (CEL)").fill("status_code == 403")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#backtest")).to_contain_text("Would have fired 5 times in the last 30 days")
    expect(page.get_by_role("alert")).to_have_count(0)  # the fixed expression's error is gone
    page.screenshot(path=SHOTS / "alerting_backtest.png", full_page=True)

    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_text("Custom rule Refused requests created in fr-par.")).to_be_visible()
    expect(page.get_by_label("Refused requests active")).to_be_checked()
    assert CustomAlertRule.objects.get().query == "status_code == 403"


def test_the_link_in_the_alert_e_mail_shows_exactly_the_events_of_its_window(
    page: Page, live_server, owner, acme
):
    NotificationContact.objects.create(organization=acme, email="soc@acme.test", security=True)
    activate(acme, "HttpForbiddenErrorRateHigh")
    start = timezone.now() - timedelta(minutes=30)
    forbidden_events(acme, 1, start=start - timedelta(minutes=10))  # before the window
    events = [
        build_event(
            organization_id=acme.pk,
            actor=Actor(principal_type="anonymous", source_ip=f"203.0.113.{100 + i}"),
            product_name="secret-manager",
            service_name="scaleway.secret_manager.v1beta1.Api",
            method_name="GetSecret",
            locality="fr-par",
            status_code=403,
            recorded_at=start + timedelta(seconds=3 * i),
        )
        for i in range(21)
    ]
    inside_ok = build_event(
        organization_id=acme.pk,
        actor=Actor(principal_type="anonymous", source_ip="192.0.2.200"),
        product_name="secret-manager",
        service_name="scaleway.secret_manager.v1beta1.Api",
        method_name="GetSecret",
        locality="fr-par",
        status_code=200,
        recorded_at=start + timedelta(seconds=10),
    )
    record_many([*events, inside_ok])
    [message] = mail.outbox
    link = next(line for line in message.body.splitlines() if "/audit-trail/events/?" in line).strip()
    _login(page, live_server, owner)
    page.goto(link.replace(settings.SITE_URL, live_server.url))
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(21)
    for event in events:  # in the rows (the facets above them name the top IPs too)
        expect(rows.get_by_text(event.source_ip, exact=True)).to_be_visible()
    expect(page.get_by_text("192.0.2.200", exact=True)).to_have_count(0)
    page.screenshot(path=SHOTS / "alerting_email_link.png", full_page=True)


def test_fired_alerts_and_contacts_pages(page: Page, live_server, owner, acme):
    NotificationContact.objects.create(
        organization=acme, email="soc@acme.test", security=True, technical=True
    )
    NotificationContact.objects.create(organization=acme, email="billing@acme.test", billing=True)
    activate(acme, "HttpForbiddenErrorRateHigh", "ApiKeyCreated")
    forbidden_events(acme, 25, start=timezone.now() - timedelta(hours=3), spacing=timedelta(seconds=2))
    from iam.services import api_key_create

    api_key_create(actor=Actor.of(owner), organization=acme, user=owner, description="deploy")
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/alerting/?region=fr-par")
    table = page.locator("#fired-alerts-table")
    expect(table).to_contain_text("HttpForbiddenErrorRateHigh")
    expect(table).to_contain_text("ApiKeyCreated")
    expect(table).to_contain_text("21 events")
    page.locator("#fired-alerts").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "alerting_fired_alerts.png", full_page=True)
    page.get_by_role("link", name="Notification contacts", exact=True).click()
    expect(page.get_by_role("heading", name="Notification contacts")).to_be_visible()
    page.get_by_label("E-mail address").fill("not an address")
    page.get_by_role("button", name="Add contact").click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    page.screenshot(path=SHOTS / "alerting_contacts.png", full_page=True)
