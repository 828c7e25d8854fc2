"""An investigator on the Events page (issue 10): every key column on screen at 1280 px, a loading
state on the results, one request per submit, pivots from a cell, and where am I in the pages."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from audit.services import Actor, build_event, record_many
from tests.factories import PASSWORD, MembershipFactory, UserFactory

SHOTS = Path(__file__).parent / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
URL = "/audit-trail/events/"
LONG_EMAIL = "platform-automation-service-account@subsidiary.acme-corporation.test"
IPS = ("212.133.41.37", "2001:db8:4006:812::200e", "81.250.12.34")
SIZES = [(1280, 800), (1440, 900)]


@pytest.fixture
def incident(acme, owner, project):
    """120 events in the last hour: three IPs (one IPv6), a principal with a long e-mail, long
    resource names, 403s among them. More than two pages."""
    from django.utils import timezone

    robot = UserFactory(email=LONG_EMAIL)
    MembershipFactory(organization=acme, user=robot)
    now = timezone.now()
    events = []
    for i in range(120):
        user = robot if i % 2 else owner
        actor = Actor("user", user.pk, user.email, IPS[i % 3], "scaleway-sdk-go/v1.0.0", str(uuid.uuid4()))
        events.append(
            build_event(
                organization_id=acme.pk,
                actor=actor,
                product_name="secret-manager",
                service_name="scaleway.secret_manager.v1beta1.Api",
                method_name="CreateSecretVersion" if i % 4 else "DeleteSecret",
                locality="fr-par",
                project_id=project.pk,
                status_code=403 if i % 7 == 3 else 200,
                recorded_at=now - timedelta(seconds=20 + i * 25),
                resources=[
                    {
                        "id": str(uuid.uuid4()),
                        "type": "secret_manager_secret",
                        "name": f"production-database-master-password-{i:03d}",
                    },
                    {"id": str(uuid.uuid4()), "type": "secret_manager_version", "name": "v1"},
                ],
            )
        )
    record_many(events)
    return events


def _login(page: Page, live_server, user, *, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/login/?next={URL}")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"{URL}$"))


def rows(page: Page):
    return page.locator("#events-table tbody tr")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_status_and_every_key_column_are_on_screen_without_scrolling_sideways(
    page: Page, live_server, auditor, incident, width, height
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _login(page, live_server, auditor, width=width, height=height)
    expect(rows(page)).to_have_count(50)
    page.screenshot(path=SHOTS / f"events_investigator_{width}.png")

    # Nothing scrolls sideways: not the page, not the table's card.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.eval_on_selector(".table-card", "el => el.scrollWidth <= el.clientWidth + 1")
    for name in ("Date", "Principal", "Product", "Method", "Resources", "IP", "Status"):
        header = page.get_by_role("columnheader", name=name, exact=True)
        box = header.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, name
    status = rows(page).first.locator("td.col-status .badge")
    expect(status).to_be_in_viewport()
    badge = status.bounding_box()
    assert badge is not None and badge["x"] + badge["width"] <= width

    # A long value is cut, never pushing a column out, and whole on hover.
    robot_row = rows(page).filter(has=page.locator(f'.principal[title*="user"]:text("{LONG_EMAIL}")')).first
    principal = robot_row.locator(".principal")
    assert principal.get_attribute("title").startswith("user ")
    expect(principal).to_have_text(LONG_EMAIL)
    # The principal keeps room to be read: at least its first twenty characters show.
    assert principal.bounding_box()["width"] >= 140
    resource = robot_row.locator(".resource")
    assert "secret_manager_secret" in resource.get_attribute("title")
    assert resource.bounding_box()["width"] >= 120


def test_a_rows_ip_pivots_to_the_list_of_that_ips_events(page: Page, live_server, auditor, incident):
    _login(page, live_server, auditor, width=1280, height=800)
    page.select_option("#id_status", "200")
    expect(page).to_have_url(re.compile(r"status=200"))
    ipv6_row = rows(page).filter(has=page.locator("td.col-ip", has_text=IPS[1])).first
    ipv6_row.locator("td.col-ip a").click()

    expect(page).to_have_url(re.compile(r"ip=2001%3Adb8%3A4006"))
    expect(page).to_have_url(re.compile(r"status=200"))  # the list's other filters stay
    expect(page.locator("#id_ip")).to_have_value(IPS[1])  # and the filter shows it
    expect(page.locator("#drawer dialog")).to_have_count(0)  # a pivot, not the drawer
    ips = rows(page).locator("td.col-ip").all_inner_texts()
    assert len(ips) > 0 and {ip.strip() for ip in ips} == {IPS[1]}
    for status in rows(page).locator("td.col-status").all_inner_texts():
        assert status.strip() == "200 Successful"

    # A click elsewhere in a row still opens its drawer, which pivots too.
    rows(page).first.locator("td.col-status").click()
    drawer = page.locator("#drawer dialog.drawer")
    expect(drawer).to_be_visible()
    drawer.get_by_role("link", name="Filter the list by CreateSecretVersion").or_(
        drawer.get_by_role("link", name="Filter the list by DeleteSecret")
    ).click()
    expect(page).to_have_url(re.compile(r"method=(CreateSecretVersion|DeleteSecret)"))
    expect(page).to_have_url(re.compile(r"ip=2001"))
    page.screenshot(path=SHOTS / "events_pivot_ip.png")


def test_pages_say_where_they_are_going_older_and_back(page: Page, live_server, auditor, incident):
    _login(page, live_server, auditor, width=1440, height=900)
    page.select_option("#id_range", "24h")
    results = page.locator("#results")
    expect(results.locator(".results-head .position")).to_have_text("Events 1–50")
    expect(results.locator(".pager")).to_contain_text("Events 1–50 of 120")

    page.get_by_role("link", name="Older ›").click()
    expect(results.locator(".results-head .position")).to_have_text("Events 51–100")
    expect(results.locator(".pager")).to_contain_text("Events 51–100 of 120")
    page.screenshot(path=SHOTS / "events_51_100.png")
    page.get_by_role("link", name="Older ›").click()
    expect(results.locator(".results-head .position")).to_have_text("Events 101–120")
    page.get_by_role("link", name="‹ Newer").click()
    expect(results.locator(".results-head .position")).to_have_text("Events 51–100")
    page.go_back()  # the browser's Back, too
    expect(results.locator(".results-head .position")).to_have_text("Events 101–120")
    page.get_by_role("link", name="‹ Newer").click()
    # Each click on the swapped page: a second click on the old one would repeat the first.
    expect(results.locator(".results-head .position")).to_have_text("Events 51–100")
    page.get_by_role("link", name="‹ Newer").click()
    expect(results.locator(".results-head .position")).to_have_text("Events 1–50")


def _events_requests(page: Page) -> list[str]:
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            # The list's own requests: not the search's counts nor the top values asked for after it.
            sent.append(request.url)
            if urlsplit(request.url).path == URL and request.headers.get("hx-request")
            else None
        ),
    )
    return sent


def test_loading_shows_on_the_results_and_each_submit_sends_one_request(
    page: Page, live_server, auditor, incident
):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    _login(page, live_server, auditor, width=1280, height=800)
    sent = _events_requests(page)

    # Enter in Search: one request, no cancelled one.
    page.get_by_label("Search").fill("password-01")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"q=password-01"))
    expect(rows(page)).to_have_count(10)
    # The search's rows come first; its timeline and total right after, in a request of their own.
    expect(page.locator("figure#timeline")).to_be_visible()
    expect(page.locator("#events-total")).to_have_text("10 events")
    page.wait_for_timeout(300)
    assert len(sent) == 1, sent

    # Apply after typing an IP: one request.
    sent.clear()
    page.get_by_label("Source IP or CIDR").fill(IPS[0])
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"ip=212.133.41.37"))
    page.wait_for_timeout(300)
    assert len(sent) == 1, sent
    assert errors == []

    # On a slow network the old results dim under a loading bar until the new ones arrive.
    def slow(route):
        page.wait_for_timeout(1500)
        route.continue_()

    page.route(re.compile(r".*/audit-trail/events/\?.*"), slow)
    page.select_option("#id_status", "403")
    results = page.locator("#results")
    expect(results).to_have_class(re.compile(r"\bhtmx-request\b"), timeout=1000)
    expect(results.locator(".loading")).to_be_visible()
    page.wait_for_timeout(400)  # the dimming fades in
    opacity = page.eval_on_selector("#results .results-head", "el => getComputedStyle(el).opacity")
    assert float(opacity) < 0.7
    page.screenshot(path=SHOTS / "events_loading.png")
    expect(results).not_to_have_class(re.compile(r"\bhtmx-request\b"), timeout=5000)
    expect(page).to_have_url(re.compile(r"status=403"))
    page.unroute_all(behavior="wait")


def test_the_custom_range_reads_in_full_in_the_users_zone(page: Page, live_server, auditor, incident):
    _login(page, live_server, auditor, width=1280, height=800)
    page.select_option("#id_range", "custom")
    after = page.locator("#id_after")
    expect(after).to_be_visible()
    # Wide enough for "mm/dd/yyyy, hh:mm:ss AM" (Chromium's en-US form): nothing cut.
    assert after.bounding_box()["width"] >= 240
    assert page.locator("#id_before").bounding_box()["width"] >= 240
    expect(page.locator(".custom-range .tz-hint")).to_contain_text("Europe/Paris")
    page.screenshot(path=SHOTS / "events_custom_range.png")

    page.select_option("#id_range", "today")
    expect(page).to_have_url(re.compile(r"range=today"))
    expect(page.locator(".results-head .summary")).to_contain_text("Today (since ")
    expect(rows(page).first.locator(".ago")).to_contain_text(re.compile(r"ago|just now"))


def test_a_spike_leaves_the_quiet_hours_readable_on_the_timeline(
    page: Page, live_server, auditor, acme, owner
):
    """Issue 10 §9: 307 events in the last hour beside one an hour for the 23 before."""
    from django.utils import timezone

    now = timezone.now()
    actor = Actor("user", owner.pk, owner.email, IPS[0], "scaleway-sdk-go/v1.0.0")
    secret = {
        "product_name": "secret-manager",
        "service_name": "scaleway.secret_manager.v1beta1.Api",
        "method_name": "CreateSecret",
        "locality": "fr-par",
    }
    spike = [now - timedelta(seconds=5 + i * 0.5) for i in range(307)]
    quiet = [now - timedelta(hours=h, minutes=10) for h in range(2, 24)]
    record_many(
        [build_event(organization_id=acme.pk, actor=actor, recorded_at=at, **secret) for at in spike + quiet]
    )
    _login(page, live_server, auditor, width=1280, height=800)
    page.select_option("#id_range", "24h")
    expect(page).to_have_url(re.compile(r"range=24h"))
    bars = page.locator(".timeline-chart .bar-ok")
    expect(bars).to_have_count(23)
    heights = [bar.bounding_box()["height"] for bar in bars.all()]
    assert min(heights) >= 4 and max(heights) > 10 * min(heights) / 2
    axis = page.locator(".timeline-axis time")
    expect(axis).to_have_count(5)
    figure = page.locator("figure.timeline")
    expect(figure).to_contain_text("√ scale · peak 307")
    figure.screenshot(path=SHOTS / "events_timeline_spike.png")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_a_network_shows_its_rows_while_its_matches_are_counted(
    page: Page, live_server, auditor, incident, width, height
):
    """An IP network's rows come with the page; its timeline and total follow. While they are
    counted the chart's place says so, at the chart's height, so that nothing jumps."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    held: list = []
    page.route("**/audit-trail/events/timeline/**", lambda route: held.append(route))
    _login(page, live_server, auditor, width=width, height=height)
    page.goto(f"{live_server.url}{URL}?ip=212.133.41.0/24")
    expect(rows(page)).to_have_count(40)  # the incident's events from that network
    pending = page.locator("#timeline.timeline-pending")
    expect(pending).to_contain_text("Counting the matching events over time")
    expect(page.locator("#events-total")).to_have_text("Counting matching events…")
    # The rows are final: only the chart's place shows that something is still on its way.
    expect(page.locator("#results")).not_to_have_class(re.compile(r"htmx-request"))
    page.screenshot(path=SHOTS / f"events_network_counting_{width}.png")
    before = page.locator("#events-table").bounding_box()
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(page.locator("figure#timeline")).to_be_visible()
    expect(page.locator("#events-total")).to_have_text(re.compile(r"^[\d,]+ events?$"))
    after = page.locator("#events-table").bounding_box()
    assert before is not None and after is not None
    assert abs(after["y"] - before["y"]) <= 8  # the chart takes the placeholder's place
    page.screenshot(path=SHOTS / f"events_network_counted_{width}.png")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_past_the_bound_a_search_says_more_match_and_counts_them_all_on_request(
    page: Page, live_server, auditor, incident, monkeypatch, width, height
):
    """A search with more matches than the counts request counts (TEXT_COUNT_BOUND, lowered here)
    says so in the chart's place, and "Count them all" draws the chart with the exact total."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr("audit.views.TEXT_COUNT_BOUND", 100)  # the live server runs in this process
    monkeypatch.setattr("audit.views.EXACT_COUNT_CAP", 100)
    _login(page, live_server, auditor, width=width, height=height)
    page.goto(f"{live_server.url}{URL}?q=production-database")
    more = page.locator("#timeline.timeline-more")
    expect(more).to_contain_text("More than 100 events match")
    expect(page.locator("#events-total")).to_have_text(re.compile(r"^100\+ events"))
    before = page.locator("#events-table").bounding_box()
    page.screenshot(path=SHOTS / f"events_search_more_{width}.png")
    page.get_by_role("link", name="Count them all").click()
    expect(page.locator("figure#timeline")).to_be_visible()
    expect(page.locator("#events-total")).to_have_text("120 events")
    expect(page).to_have_url(re.compile(r"\?q=production-database$"))  # the address stays the list's
    after = page.locator("#events-table").bounding_box()
    assert before is not None and after is not None
    assert abs(after["y"] - before["y"]) <= 8  # the chart takes the notice's place
    page.screenshot(path=SHOTS / f"events_search_counted_{width}.png")
