"""Regressions from the console QA pass: things a person sees or does with the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, ApplicationFactory

SHOTS = Path(__file__).parent / "screenshots"


def _login(page: Page, live_server, user, *, width: int = 1440, height: int = 900) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def _overflows(page: Page, selector: str) -> bool:
    return page.eval_on_selector(selector, "el => el.scrollWidth > el.clientWidth + 1")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1024, 768)])
def test_iam_row_actions_are_in_view_without_scrolling_the_table(
    live_server, page: Page, owner, member_without_rights, acme, width, height
):
    ApplicationFactory(organization=acme, name="terraform-ci", description="Terraform pipelines in GitLab CI")
    _login(page, live_server, owner, width=width, height=height)

    page.goto(f"{live_server.url}/iam/users/")
    remove = page.get_by_role("button", name=f"Remove {member_without_rights.email}")
    expect(remove).to_be_visible()
    assert not _overflows(page, "#results .table-container")
    page.screenshot(path=str(SHOTS / f"qa_iam_users_{width}.png"), full_page=True)

    page.goto(f"{live_server.url}/iam/applications/")
    expect(page.get_by_role("button", name="Delete terraform-ci")).to_be_visible()
    assert not _overflows(page, "#results .table-container")
    page.screenshot(path=str(SHOTS / f"qa_iam_applications_{width}.png"), full_page=True)
