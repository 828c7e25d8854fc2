"""The owner's IAM round trip in a real browser: a key created, revealed once, deleted, and found in the logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD

SHOTS = Path(__file__).parent / "screenshots"


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_owner_creates_and_deletes_a_key_then_reads_both_in_the_iam_logs(
    live_server, page: Page, owner, acme
):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/login/")
    _shot(page, "iam_login")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="IAM", exact=True).click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    _shot(page, "iam_users")

    # Create a key: the secret shows once.
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Description").fill("deploy from CI")
    page.get_by_role("button", name="Generate API key").click()
    secret = page.locator("#secret-key").inner_text()
    access_key = page.locator("#access-key").inner_text()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", secret)
    assert re.fullmatch(r"SCW[A-Z0-9]{17}", access_key)
    _shot(page, "iam_api_key_secret")
    page.get_by_role("link", name="I have copied the secret key").click()
    expect(page.get_by_role("cell", name=access_key, exact=True)).to_be_visible()
    assert secret not in page.content()
    page.reload()
    assert secret not in page.content()
    _shot(page, "iam_api_keys")

    # Delete it (htmx: the confirm, then the list reloads itself).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Delete {access_key}").click()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()

    # Logs: both entries at the top, newest first.
    page.get_by_role("link", name="Logs").click()
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Deleted")
    expect(rows.nth(0)).to_contain_text(access_key)
    expect(rows.nth(1)).to_contain_text("Created")
    expect(rows.nth(1)).to_contain_text(access_key)
    expect(rows.nth(0)).to_contain_text(owner.email)
    _shot(page, "iam_logs")

    # More info: the popup shows the IP and the user agent, and the keyboard closes it.
    user_agent = page.evaluate("navigator.userAgent")
    rows.nth(0).get_by_role("link", name=re.compile("More info")).click()
    dialog = page.locator("dialog#log-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".ip")).to_have_text("127.0.0.1")
    expect(dialog.locator(".user-agent")).to_have_text(user_agent)
    _shot(page, "iam_log_more_info")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Filter on action = deleted.
    page.get_by_label("Action").select_option("deleted")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("Deleted")
    assert "action=deleted" in page.url
    _shot(page, "iam_logs_deleted")

    # Sort ascending (all actions again): the creation comes first.
    page.get_by_label("Action").select_option("")
    expect(rows).to_have_count(2)
    page.get_by_role("link", name=re.compile("^Date")).click()
    expect(rows.nth(0)).to_contain_text("Created")
    expect(rows.nth(1)).to_contain_text("Deleted")
    assert "sort=created_at" in page.url
    _shot(page, "iam_logs_ascending")
