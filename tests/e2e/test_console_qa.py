"""Regressions from the console QA pass: things a person sees or does with the keyboard."""

from __future__ import annotations

import re
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


@pytest.fixture
def spread_events(acme, owner):
    """Events over the last hour, a few minutes apart, so the timeline has many bars."""
    from datetime import timedelta

    from django.utils import timezone

    from audit.services import Actor, build_event, record_many

    now = timezone.now()
    actor = Actor("user", owner.pk, owner.email, "81.250.12.34", "Mozilla/5.0")
    record_many(
        [
            build_event(
                organization_id=acme.pk,
                actor=actor,
                product_name="secret-manager",
                service_name="scaleway.secret_manager.v1beta1.Api",
                method_name="CreateSecret",
                locality="fr-par",
                recorded_at=now - timedelta(minutes=2 + 4 * i),
            )
            for i in range(12)
        ]
    )


def _focused(page: Page) -> str:
    return page.evaluate(
        "(() => { const e = document.activeElement;"
        " return `${e.tagName.toLowerCase()}.${e.getAttribute('class') || ''}`; })()"
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_timeline_is_one_tab_stop_and_arrow_keys_move_between_its_bars(
    live_server, page: Page, owner, spread_events
):
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/events/")
    bars = page.locator(".timeline-chart a.bar")
    assert bars.count() >= 10

    page.get_by_role("link", name="Newest first").focus()
    page.keyboard.press("Tab")
    assert _focused(page) == "a.bar"
    page.keyboard.press("Tab")  # straight past the other bars, to the table's sort link
    assert _focused(page) == "a.sort-link"

    page.keyboard.press("Shift+Tab")
    assert _focused(page) == "a.bar"
    last = page.evaluate("document.activeElement.querySelector('title').textContent")
    page.keyboard.press("ArrowLeft")
    assert _focused(page) == "a.bar"
    assert page.evaluate("document.activeElement.querySelector('title').textContent") != last
    page.keyboard.press("Enter")  # zooms into that bar
    expect(page).to_have_url(re.compile(r"range=custom"))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_closing_the_drawer_gives_focus_back_to_the_row_that_opened_it(
    live_server, page: Page, owner, spread_events
):
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/events/")
    third = page.locator("#events-table tbody tr").nth(2)
    event_id = third.get_attribute("data-event-id")
    third.locator("a.event-link").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog.drawer")).to_be_visible()
    expect(page.locator("#drawer-title")).to_be_focused()

    page.keyboard.press("Escape")
    expect(page.locator("dialog.drawer")).to_have_count(0)
    expect(page.locator(f'#events-table tr[data-event-id="{event_id}"] a.event-link')).to_be_focused()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1440, 900)])
def test_the_drawer_wraps_long_resource_names_and_ids_inside_its_panel(
    live_server, page: Page, owner, acme, width, height
):
    from django.utils import timezone

    from audit.services import Actor, build_event, record_many

    long_name = "n" * 200
    long_id = "arn-" + "0123456789abcdef" * 12
    record_many(
        [
            build_event(
                organization_id=acme.pk,
                actor=Actor("user", owner.pk, owner.email, "81.250.12.34", "Mozilla/5.0"),
                recorded_at=timezone.now(),
                product_name="secret-manager",
                service_name="scaleway.secret_manager.v1beta1.Api",
                method_name="CreateSecret",
                locality="fr-par",
                resources=[
                    {
                        "id": long_id,
                        "type": "secret_manager_secret_version_with_a_long_type",
                        "name": long_name,
                    }
                ],
            )
        ]
    )
    _login(page, live_server, owner, width=width, height=height)
    page.goto(f"{live_server.url}/audit-trail/events/")
    page.locator("#events-table tbody tr a.event-link").first.click()
    drawer = page.locator("dialog.drawer")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_text(long_id)).to_be_visible()
    assert not _overflows(page, "dialog.drawer .drawer-body")
    # Every cell of the resources table ends inside the panel: nothing is cut by its edge.
    panel_right = page.eval_on_selector("dialog.drawer", "el => el.getBoundingClientRect().right")
    cells_right = page.eval_on_selector_all(
        "dialog.drawer table.compact td", "cells => cells.map(c => c.getBoundingClientRect().right)"
    )
    assert cells_right and max(cells_right) <= panel_right + 0.5
    drawer.screenshot(path=str(SHOTS / f"qa_drawer_long_resource_{width}.png"))
