"""Integrity in a real browser: open an event, see "Verified" in its drawer, open its proof and the
Integrity tab."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from integrity.keys import clear_cache
from integrity.services import seal
from tests.api.conftest import make_events
from tests.factories import PASSWORD

SHOTS = Path(__file__).parent / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login(page: Page, live_server, user) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/audit-trail/"))


def test_an_event_shows_verified_with_its_proof_and_the_integrity_tab(page: Page, live_server, owner, acme):
    clear_cache()
    make_events(acme, 5)
    seal(acme.pk)
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/events/?region=fr-par&range=24h")
    page.get_by_role("row").nth(1).get_by_role("link").first.click()
    drawer = page.locator("#drawer")
    expect(drawer.get_by_text("Verified", exact=True)).to_be_visible()
    expect(drawer.get_by_text(re.compile(r"leaf \d+ of the tree of \d+ events"))).to_be_visible()
    page.screenshot(path=SHOTS / "integrity_drawer.png", full_page=True)

    drawer.get_by_role("link", name="Show the proof").click()
    expect(page.get_by_role("heading", name="Integrity proof")).to_be_visible()
    expect(page.get_by_text("Audit path")).to_be_visible()
    page.screenshot(path=SHOTS / "integrity_proof.png", full_page=True)

    page.get_by_role("link", name="Integrity", exact=True).click()
    expect(page.get_by_role("heading", name="Latest signed tree head")).to_be_visible()
    expect(page.get_by_role("heading", name="Signed heads")).to_be_visible()
    page.screenshot(path=SHOTS / "integrity_page.png", full_page=True)
