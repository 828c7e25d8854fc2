"""Issue 10 in a real browser: opening a facet on Events, and finding the demo's brute-force
attempt on the Sign-ins tab, at 1280×800 and 1440×900."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.services import Actor, build_event, record_many
from tests.factories import PASSWORD

SHOTS = Path(__file__).parent / "screenshots"
SIZES = [pytest.param((1280, 800), id="1280x800"), pytest.param((1440, 900), id="1440x900")]
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login(page: Page, live_server, email: str, password: str, size: tuple[int, int], next_url: str) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"{live_server.url}/login/?next={next_url}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def _scrolls_sideways(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth + 1")


@pytest.fixture
def busy_hour(acme, owner, removed_member):
    now = timezone.now()
    people = [
        Actor("user", owner.pk, owner.email, "212.133.41.37", "scaleway-cli/2.34.0"),
        Actor("user", removed_member.pk, removed_member.email, "5.6.7.8", "python-requests/2.32.3"),
    ]
    events = []
    for i in range(40):
        actor = people[1] if i % 4 == 0 else people[0]
        events.append(
            build_event(
                organization_id=acme.pk,
                actor=Actor(**{**actor.__dict__, "request_id": str(uuid.uuid4())}),
                product_name="secret-manager",
                service_name="scaleway.secret_manager.v1beta1.Api",
                method_name="DeleteSecret" if i % 4 == 0 else "CreateSecret",
                locality="fr-par",
                status_code=403 if i % 4 == 0 else 200,
                recorded_at=now - timedelta(seconds=60 + i * 50),
                resources=[{"id": str(uuid.uuid4()), "type": "secret_manager_secret", "name": f"db-{i}"}],
            )
        )
    record_many(events)
    return events


@pytest.mark.parametrize("size", SIZES)
def test_auditor_opens_a_facet(page: Page, live_server, auditor, busy_hour, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _login(page, live_server, auditor.email, PASSWORD, size, "/audit-trail/events/")
    expect(page.locator("#events-table tbody tr")).to_have_count(40)
    facets = page.locator("#facets")
    expect(facets).not_to_have_attribute("open", "")  # folded: the first events stay in view
    expect(page.locator("#events-table tbody tr").first).to_be_in_viewport()
    expect(page.locator('#facets [data-facet="ips"]')).to_have_count(0)  # not counted while folded
    facets.locator("summary").click()
    ips = page.locator('#facets [data-facet="ips"]')
    expect(ips).to_be_visible()
    expect(ips).to_contain_text("5.6.7.8")  # counted on unfolding, in a request of its own
    expect(facets.locator("summary")).to_contain_text("in these 40 events")
    expect(page.locator('#facets [data-facet="statuses"]')).to_contain_text("403 Forbidden")
    page.screenshot(path=SHOTS / f"events_facets_{size[0]}.png")
    assert not _scrolls_sideways(page)

    ips.get_by_role("link", name="5.6.7.8").click()
    expect(page).to_have_url(re.compile(r"[?&]ip=5\.6\.7\.8(&|$)"))
    expect(page.get_by_label("Source IP or CIDR")).to_have_value("5.6.7.8")
    rows = page.locator("#events-table tbody tr")
    expect(rows).to_have_count(10)
    for text in rows.locator("td.col-ip").all_inner_texts():
        assert text.strip() == "5.6.7.8"
    expect(page.locator("#facets")).to_have_attribute("open", "")  # unfolded, as the reader left them
    # The facets follow the new filter: one IP left, and it is the filter already applied.
    expect(page.locator('#facets [data-facet="ips"] li')).to_have_count(1)
    expect(page.locator('#facets [data-facet="ips"] a')).to_have_count(0)


def test_open_facets_load_without_a_click_and_a_failure_offers_a_retry(
    page: Page, live_server, auditor, busy_hour
):
    """Kept open (the cookie), the panel's grid comes right after the page; if its request fails,
    the panel says so and asks again on "Try again"."""
    _login(page, live_server, auditor.email, PASSWORD, (1280, 800), "/audit-trail/events/")
    page.context.add_cookies([{"name": "facets", "value": "open", "url": live_server.url}])
    page.goto(f"{live_server.url}/audit-trail/events/?status=403")
    expect(page.locator("#facets")).to_have_attribute("open", "")
    ips = page.locator('#facets [data-facet="ips"]')
    expect(ips).to_contain_text("5.6.7.8")  # no click
    expect(page.locator("#facets summary")).to_contain_text("in these 10 events")

    failures = []

    def fail_once(route):
        if not failures:
            failures.append(route.request.url)
            route.fulfill(status=500, body="Server Error")
        else:
            route.continue_()

    page.route(re.compile(r"/audit-trail/events/facets/"), fail_once)
    page.reload()
    error = page.locator("#facets .facets-error")
    expect(error).to_contain_text("Could not count the top values.")
    assert failures and "status=403" in failures[0]  # the page's own filters
    error.get_by_role("link", name="Try again").click()
    expect(page.locator('#facets [data-facet="ips"]')).to_contain_text("5.6.7.8")
    expect(page).to_have_url(re.compile(r"/audit-trail/events/\?status=403$"))  # still the Events page


@pytest.fixture
def demo(db):
    from demo.seed import DEMO_PASSWORD, demo_seed

    demo_seed(events=200, seed=1)
    return DEMO_PASSWORD


@pytest.mark.parametrize("size", SIZES)
def test_auditor_finds_the_brute_force_attempt_on_the_sign_ins_tab(page: Page, live_server, demo, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _login(page, live_server, "auditor@acme.example", demo, size, "/audit-trail/events/")
    page.get_by_role("navigation", name="Audit Trail").get_by_role("link", name="Sign-ins").click()
    expect(page).to_have_url(re.compile(r"/audit-trail/sign-ins/"))

    # The source with the most failures is on top, flagged.
    sources = page.locator(".failed-sources tbody tr")
    expect(sources.first).to_contain_text("185.220.101.47")
    expect(sources.first).to_contain_text("Possible brute force")
    expect(sources.filter(has_text="Possible brute force")).to_have_count(1)
    page.screenshot(path=SHOTS / f"sign_ins_{size[0]}.png")
    assert not _scrolls_sideways(page)

    # Failed sign-ins only: the burst's rows stand out.
    expect(page.get_by_label("Time range")).to_have_value("7d")
    page.get_by_label("Result").select_option("failure")
    expect(page).to_have_url(re.compile(r"result=failure"))
    burst = page.locator("#sign-ins-table tbody tr.row-burst")
    expect(burst).to_have_count(8)
    expect(burst.first).to_contain_text("owner@acme.example")

    # One click from the source to its attempts.
    sources.first.get_by_role("link", name="185.220.101.47").click()
    expect(page).to_have_url(re.compile(r"ip=185\.220\.101\.47"))
    expect(page.get_by_label("Source IP or CIDR")).to_have_value("185.220.101.47")
    rows = page.locator("#sign-ins-table tbody tr")
    expect(rows).to_have_count(8)
    expect(rows.filter(has_text="Throttled")).to_have_count(3)
    page.screenshot(path=SHOTS / f"sign_ins_brute_force_{size[0]}.png")
    assert not _scrolls_sideways(page)
    # Every column, the user agent last, is on screen: nothing hides in a sideways scroll.
    agent = page.get_by_role("columnheader", name="User agent")
    box = agent.bounding_box()
    assert box is not None and box["x"] + box["width"] <= size[0]
    assert not page.eval_on_selector(
        "#sign-ins-table",
        "el => el.closest('.table-wrap').scrollWidth > el.closest('.table-wrap').clientWidth + 1",
    )
