"""Issue 10, outside the Events page, in a real browser: each persona lands on a page it may use,
the key-created page survives a reload with one key, and IAM's tables fit 1280 px whatever the
names in them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.models import APIKey
from tests.factories import PASSWORD, ApplicationFactory, ProjectFactory, UserFactory

SHOTS = Path(__file__).parent / "screenshots"
VIEWPORTS = [(1280, 800), (1440, 900)]
# persona fixture -> (where it lands, the sidebar sections it sees)
LANDINGS = {
    "owner": ("/audit-trail/events/", ["Audit Trail", "IAM", "Notification contacts"]),
    "auditor": ("/audit-trail/events/", ["Audit Trail", "IAM"]),
    "iam_manager": ("/iam/users/", ["IAM"]),
    "member_without_rights": ("/", []),
    "staff": ("/admin/", None),  # the Django admin has its own navigation
}
LONG_NAME = "x" * 200  # a valid description (200 characters), without a single space


@pytest.fixture
def staff(db):
    return UserFactory(email="staff@audit-trail.test", is_staff=True, is_superuser=True)


def _login(page: Page, live_server, user, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def _scrolls_sideways(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")


def _right_edge_in_view(page: Page, selector: str) -> bool:
    return page.eval_on_selector(selector, "el => el.getBoundingClientRect().right <= window.innerWidth")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
@pytest.mark.parametrize("persona", list(LANDINGS))
def test_each_persona_lands_on_a_page_it_may_use(
    request, live_server, page: Page, acme, persona, width, height
):
    user = request.getfixturevalue(persona)
    landing, sections = LANDINGS[persona]
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status))
    _login(page, live_server, user, width, height)

    expect(page).to_have_url(f"{live_server.url}{landing}")
    assert 403 not in statuses
    assert not Event.objects.filter(status_code=403).exists()
    if sections is not None:
        links = page.locator("nav.sidebar ul a")
        expect(links).to_have_text(sections)
    if persona == "member_without_rights":
        expect(page.get_by_role("heading", name="There is no page you can open yet")).to_be_visible()
    page.screenshot(path=str(SHOTS / f"landing_{persona}_{width}.png"))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_reloading_the_key_created_page_keeps_one_key_and_hides_the_secret(
    live_server, page: Page, owner, acme
):
    _login(page, live_server, owner, 1280, 800)
    page.goto(f"{live_server.url}/iam/api-keys/")
    page.get_by_label("Description").fill("deploy from CI")
    page.get_by_role("button", name="Generate API key").click()
    secret = page.locator("#secret-key").inner_text()
    assert re.fullmatch(r"[0-9a-f-]{36}", secret)
    assert secret not in page.url
    page.screenshot(path=str(SHOTS / "api_key_created_first.png"))

    page.reload()
    expect(page.get_by_text("The secret key was shown once")).to_be_visible()
    assert secret not in page.content()
    assert APIKey.objects.count() == 1
    page.screenshot(path=str(SHOTS / "api_key_created_reloaded.png"))


@pytest.fixture
def long_names(acme, owner):
    """A key, an application and a project with the longest valid names, none with a space."""
    project = ProjectFactory(organization=acme, name="p" * 100)
    app = ApplicationFactory(organization=acme, name="a" * 64)
    actor = Actor.of(owner)
    services.api_key_create(
        actor=actor, organization=acme, user=owner, description=LONG_NAME, default_project=project
    )
    services.api_key_create(
        actor=actor,
        organization=acme,
        application=app,
        description=LONG_NAME,
        expires_at=timezone.now() + timedelta(days=30),
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_iam_logs_and_api_keys_fit_1280_px_with_a_200_character_name(
    live_server, page: Page, owner, acme, long_names
):
    _login(page, live_server, owner, 1280, 800)

    page.goto(f"{live_server.url}/iam/api-keys/")
    assert not _scrolls_sideways(page)
    assert not page.eval_on_selector("#results .table-container", "el => el.scrollWidth > el.clientWidth + 1")
    first = page.locator("#results tbody tr").first
    expect(first.get_by_role("button", name=re.compile(r"^Delete SCW"))).to_be_visible()
    assert _right_edge_in_view(page, "#results tbody tr:first-child td:last-child")
    expect(first.locator(f'.clip[title="{LONG_NAME}"]')).to_be_visible()  # the full value on hover
    page.screenshot(path=str(SHOTS / "iam_api_keys_long_names_1280.png"), full_page=True)

    page.goto(f"{live_server.url}/iam/logs/")
    assert not _scrolls_sideways(page)
    more = page.locator("#results tbody tr").first.get_by_role("link", name=re.compile("More info"))
    expect(more).to_be_visible()
    assert _right_edge_in_view(page, "#results tbody tr:first-child td.cell-icon a")
    page.screenshot(path=str(SHOTS / "iam_logs_long_names_1280.png"), full_page=True)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_sidebar_collapses_at_phone_width(live_server, page: Page, owner, acme):
    _login(page, live_server, owner, 390, 844)
    sidebar = page.locator("nav.sidebar")
    box = sidebar.bounding_box()
    assert box is not None and box["width"] >= 380 and box["height"] < 150  # a strip on top, not a column
    expect(page.get_by_role("link", name="Notification contacts")).to_be_visible()
    main = page.locator("main").bounding_box()
    assert main is not None and main["x"] < 10 and main["y"] >= box["y"] + box["height"] - 1
    page.screenshot(path=str(SHOTS / "sidebar_phone.png"))
