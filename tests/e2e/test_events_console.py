"""The auditor's tour of the Events page in a real browser (Debian's Chromium)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audit.services import Actor, build_event, record_many
from tests.factories import PASSWORD

SHOTS = Path(__file__).parent / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


@pytest.fixture
def tour_events(acme, owner, auditor, removed_member, project, other_project):
    from django.utils import timezone

    now = timezone.now()
    owner_actor = Actor(
        "user",
        owner.pk,
        owner.email,
        "212.133.41.37",
        "scaleway-sdk-go/v1.0.0-beta.7 terraform-provider/develop",
    )
    former = Actor(
        "user",
        removed_member.pk,
        removed_member.email,
        "5.6.7.8",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    )
    secret = {
        "product_name": "secret-manager",
        "service_name": "scaleway.secret_manager.v1beta1.Api",
        "locality": "fr-par",
    }
    events = []
    for i in range(70):  # web-shop, fr-par: more than one page
        denied = i % 9 == 4
        method = "DeleteSecret" if i % 2 == 0 else "CreateSecret"
        events.append(
            build_event(
                organization_id=acme.pk,
                actor=(former if denied else owner_actor).__class__(
                    **{**(former if denied else owner_actor).__dict__, "request_id": str(uuid.uuid4())}
                ),
                method_name=method,
                status_code=403 if denied else 200,
                project_id=project.pk,
                recorded_at=now - timedelta(seconds=30 + i * 40),
                resources=[
                    {"id": str(uuid.uuid4()), "type": "secret_manager_secret", "name": f"db-password-{i}"}
                ],
                request_body={
                    "name": f"db-password-{i}",
                    "path": "/prod",
                    "protected": False,
                    "type": "opaque",
                },
                **secret,
            )
        )
    for i in range(4):  # the platform, IAM, global (shown under fr-par)
        events.append(
            build_event(
                organization_id=acme.pk,
                actor=Actor.system(),
                product_name="iam",
                service_name="scaleway.iam.v1alpha1.Api",
                method_name="CreateGroup",
                locality="global",
                recorded_at=now - timedelta(minutes=3 + i * 11),
                resources=[{"id": str(uuid.uuid4()), "type": "iam_group", "name": "Administrators"}],
                request_body={"name": "Administrators", "organization_id": str(acme.pk)},
            )
        )
    for i in range(3):  # nl-ams
        events.append(
            build_event(
                organization_id=acme.pk,
                actor=owner_actor,
                method_name="CreateSecret",
                project_id=other_project.pk,
                recorded_at=now - timedelta(minutes=7 + i * 5),
                **(secret | {"locality": "nl-ams"}),
            )
        )
    record_many(events)
    return events


def rows(page: Page):
    return page.locator("#events-table tbody tr")


def test_auditor_tours_the_events_page(page: Page, live_server, auditor, tour_events, project):
    SHOTS.mkdir(parents=True, exist_ok=True)

    # Log in.
    page.goto(f"{live_server.url}/login/?next=/audit-trail/events/")
    page.get_by_label("Email").fill(auditor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/audit-trail/events/$"))
    expect(rows(page)).to_have_count(50)
    expect(page.locator(".timeline-chart .bar-denied").first).to_be_visible()
    expect(page.locator("#results")).to_contain_text("Scaleway")
    page.screenshot(path=SHOTS / "events_list.png", full_page=False)

    # Switch the region to nl-ams and back.
    page.select_option("#id_region", "nl-ams")
    expect(page).to_have_url(re.compile(r"region=nl-ams"))
    expect(rows(page)).to_have_count(3)
    page.select_option("#id_region", "fr-par")
    expect(page).to_have_url(re.compile(r"region=fr-par"))
    expect(rows(page)).to_have_count(50)

    # Pick a project.
    page.select_option("#id_project", label="web-shop")
    expect(page).to_have_url(re.compile(rf"project={project.pk}"))
    expect(page.locator("#results")).not_to_contain_text("Scaleway")
    first_page = rows(page).first.get_attribute("data-event-id")

    # Page to older events and back.
    page.get_by_role("link", name="Older ›").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(rows(page)).to_have_count(20)
    assert rows(page).first.get_attribute("data-event-id") != first_page
    page.get_by_role("link", name="‹ Newer").click()
    expect(rows(page)).to_have_count(50)
    expect(rows(page).first).to_have_attribute("data-event-id", first_page)

    # Filter on status 403: only 403 rows.
    page.select_option("#id_status", "403")
    expect(page).to_have_url(re.compile(r"status=403"))
    expect(rows(page)).to_have_count(8)
    for status in rows(page).locator("td:last-child").all_inner_texts():
        assert status.strip() == "403 Forbidden"

    # Filter by method; its choices follow the product.
    page.select_option("#id_product", "secret-manager")
    expect(page).to_have_url(re.compile(r"product=secret-manager"))
    expect(page.locator("#id_method option[value='CreateAPIKey']")).to_have_count(0)
    page.select_option("#id_method", "DeleteSecret")
    expect(page).to_have_url(re.compile(r"method=DeleteSecret"))
    expect(rows(page)).to_have_count(4)
    for method in rows(page).locator("td:nth-child(4)").all_inner_texts():
        assert method.strip() == "DeleteSecret"

    # The browser's Back button restores the previous filter.
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"method=DeleteSecret"))
    expect(page.locator("#id_method")).to_have_value("")
    expect(page.locator("#id_status")).to_have_value("403")
    expect(rows(page)).to_have_count(8)

    # Open an event's drawer and read its request body.
    rows(page).first.locator("a.event-link").click()
    drawer = page.locator("#drawer dialog.drawer")
    expect(drawer).to_be_visible()
    expect(page).to_have_url(re.compile(r"/audit-trail/events/[0-9a-f-]{36}/\?"))
    expect(drawer.locator("#request-body")).to_contain_text('"path": "/prod"')
    expect(drawer).to_contain_text("Unknown")  # the 403s are by the removed member
    expect(drawer).to_contain_text("403 Forbidden")
    expect(rows(page).first).to_have_class(re.compile("is-selected"))
    page.wait_for_timeout(250)  # let the slide-in finish before the picture
    page.screenshot(path=SHOTS / "event_drawer.png")
    page.keyboard.press("Escape")
    expect(drawer).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/audit-trail/events/\?"))

    # An empty result explains itself and offers a wider window.
    page.select_option("#id_region", "pl-waw")
    empty = page.locator(".empty-state")
    expect(empty).to_contain_text(
        "No events in pl-waw for web-shop in the last hour that match these filters."
    )
    expect(empty.get_by_role("link", name="Show the last 24 hours")).to_be_visible()
    page.screenshot(path=SHOTS / "events_empty.png")


def test_the_page_works_as_plain_forms_and_links_without_javascript(
    browser, live_server, auditor, tour_events
):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server.url}/login/?next=/audit-trail/events/")
    page.get_by_label("Email").fill(auditor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(rows(page)).to_have_count(50)

    # The region drop-down lives outside the form, and Apply still sends it.
    page.select_option("#id_region", "nl-ams")
    page.select_option("#id_status", "200")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"region=nl-ams.*status=200|status=200.*region=nl-ams"))
    expect(rows(page)).to_have_count(3)

    # A row's link is the drawer's own page; its close link returns to the same list.
    rows(page).first.locator("a.event-link").click()
    expect(page).to_have_url(re.compile(r"/audit-trail/events/[0-9a-f-]{36}/\?"))
    expect(page.locator("#drawer dialog.drawer")).to_be_visible()
    page.get_by_role("link", name="Close the event details").click()
    expect(page.locator("#drawer dialog")).to_have_count(0)
    expect(rows(page)).to_have_count(3)
    context.close()
