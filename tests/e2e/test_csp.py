"""The strict Content-Security-Policy holds on every main page: the browser reports no violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.factories import PASSWORD

PAGES = [
    "/audit-trail/events/",
    "/audit-trail/alerting/",
    "/iam/users/",
    "/iam/logs/",
    "/iam/api-keys/",
    "/contacts/",
]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_main_pages_raise_no_csp_violation_or_console_error(page: Page, live_server, owner, acme):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/audit-trail/events/**")
    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    assert errors == []
