"""The Events page as an investigator uses it (issue 10): pivots, positions and totals, calendar
days in the user's zone, relative times, the custom range's limits, the timeline's scale, and the
method box."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.forms import EventFilterForm
from audit.selectors import bucket_width
from audit.services import Actor, record_many
from audit.views import _axis, _height
from core.paging import Cursor, event_page
from core.time import ago, with_offset
from tests.audit.conftest import HX_DRAWER, HX_RESULTS, actor_for, make_events

URL = reverse("audit:events")
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def rows(response) -> list[str]:
    return re.findall(r'<tr [^>]*data-event-id="([0-9a-f-]+)"', response.content.decode())


def html_of(response) -> str:
    return response.content.decode()


def links(html: str, cls: str = "pivot") -> list[str]:
    return [u.replace("&amp;", "&") for u in re.findall(rf'<a class="{cls}" href="([^"]+)"', html)]


def params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- §8: the custom range ----------------------------------------------------------------------


def test_a_range_with_only_an_old_start_is_held_to_the_90_day_limit(auditor_client, acme_events):
    html = html_of(auditor_client.get(URL, {"range": "custom", "after": "1900-01-01T00:00"}))
    assert "Some filters are not valid" in html
    assert "A range covers at most 90 days." in html
    assert "+00:0921" not in html
    # The same without naming the preset (a link's bounds make a custom range).
    assert "A range covers at most 90 days." in html_of(
        auditor_client.get(URL, {"after": "2000-01-01T00:00Z"})
    )


def test_a_range_with_only_a_start_in_the_future_says_so(auditor_client, acme_events):
    later = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    html = html_of(auditor_client.get(URL, {"range": "custom", "after": later}))
    assert "The start of the range must be in the past." in html


def test_a_range_with_only_a_recent_start_runs_to_now(auditor_client, acme_events):
    start = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = auditor_client.get(URL, {"range": "custom", "after": start})
    assert "Some filters are not valid" not in html_of(response)
    assert len(rows(response)) == 13  # every fr-par event of the fixture


def test_offsets_with_seconds_print_whole():
    """Paris kept its mean solar time (+00:09:21) until 1911: an offset with seconds."""
    with timezone.override(PARIS):
        assert with_offset(datetime(1900, 1, 1, tzinfo=UTC), "minutes") == "1900-01-01 00:09 +00:09:21"
        assert with_offset(datetime(2026, 7, 1, tzinfo=UTC)) == "2026-07-01 02:00:00 +02:00"


def test_the_custom_range_names_the_zone_it_reads_in(auditor_client, acme_events):
    html = html_of(auditor_client.get(URL, {"range": "custom"}))
    assert re.search(r"Times in <strong>Europe/Paris</strong> \(UTC\+0[12]:00 now\)", html)


# --- §12: time as people say it ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "today", "yesterday"),
    [
        # Local 10:00 on 5 January: days start at 23:00 UTC.
        (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), datetime(2026, 1, 4, 23, 0), datetime(2026, 1, 3, 23, 0)),
        # Just after local midnight, still the 4th in UTC: today is the 5th in Paris.
        (datetime(2026, 1, 4, 23, 30, tzinfo=UTC), datetime(2026, 1, 4, 23, 0), datetime(2026, 1, 3, 23, 0)),
        # The day after the clocks went forward: yesterday had 23 hours.
        (datetime(2026, 3, 30, 8, 0, tzinfo=UTC), datetime(2026, 3, 29, 22, 0), datetime(2026, 3, 28, 23, 0)),
    ],
)
def test_today_and_yesterday_are_calendar_days_in_the_users_zone(acme, now, today, yesterday):
    with timezone.override(PARIS):
        form = EventFilterForm({"range": "today"}, projects=[], now=now)
        assert form.is_valid()
        assert form.window() == (today.replace(tzinfo=UTC), now)
        form = EventFilterForm({"range": "yesterday"}, projects=[], now=now)
        assert form.is_valid()
        assert form.window() == (yesterday.replace(tzinfo=UTC), today.replace(tzinfo=UTC))


def test_today_in_utc_for_a_user_who_chose_utc(acme):
    now = datetime(2026, 1, 4, 23, 30, tzinfo=UTC)
    with timezone.override(UTC):
        form = EventFilterForm({"range": "today"}, projects=[], now=now)
        assert form.is_valid() and form.window() == (datetime(2026, 1, 4, tzinfo=UTC), now)


def test_today_lists_todays_events_and_says_where_the_day_starts(auditor_client, acme, owner):
    record_many(make_events(acme, 1, actor=actor_for(owner), minutes_ago=0))
    response = auditor_client.get(URL, {"range": "today"})
    html = html_of(response)
    assert len(rows(response)) == 1
    assert re.search(r"Today \(since \d{4}-\d\d-\d\d 00:00 \+0[12]:00\)", html)
    assert re.search(
        r"Yesterday \(\d{4}-\d\d-\d\d 00:00 \+0[12]:00 to ",
        html_of(auditor_client.get(URL, {"range": "yesterday"})),
    )


def test_an_empty_yesterday_explains_itself_and_offers_a_wider_window(auditor_client, acme, project):
    html = html_of(auditor_client.get(URL, {"range": "yesterday", "project": str(project.pk)}))
    assert re.search(
        r"No events in fr-par for web-shop yesterday \(\d{4}-\d\d-\d\d 00:00 \+0[12]:00 to ", html
    )
    assert re.search(r"Show the last (7 days|24 hours)", html)  # 24 hours when DST made yesterday 23 h


def test_relative_times_read_as_people_say_them():
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=20), now) == "just now"
    assert ago(now - timedelta(minutes=5, seconds=59), now) == "5 min ago"
    assert ago(now - timedelta(hours=3, minutes=10), now) == "3 h ago"
    assert ago(now - timedelta(days=2, hours=1), now) == "2 d ago"
    assert ago(now + timedelta(minutes=2), now) == "in 2 min"  # a producer's clock ahead of ours


def test_each_row_and_the_drawer_say_how_long_ago(auditor_client, acme, owner):
    [event] = make_events(acme, 1, actor=actor_for(owner), minutes_ago=5)
    record_many([event])
    assert re.search(r'<span class="ago">\d+ min ago</span>', html_of(auditor_client.get(URL)))
    drawer = html_of(auditor_client.get(reverse("audit:event", args=[event.pk]), headers=HX_DRAWER))
    assert re.search(r"\) · \d+ min ago</span>", drawer)


# --- §10: pivots -------------------------------------------------------------------------------


def test_each_value_in_a_row_links_to_the_list_narrowed_to_it(auditor_client, acme_events, owner):
    event = acme_events.filter(principal_id=owner.pk, region="fr-par").order_by("-recorded_at").first()
    html = html_of(auditor_client.get(URL, {"status": "200", "range": "24h"}))
    row = re.search(rf'<tr [^>]*data-event-id="{event.pk}">(.*?)</tr>', html, re.S)[1]
    found = {tuple(sorted(set(params(u)) - {"status", "range"})): params(u) for u in links(row)}
    assert set(found) == {
        ("principal",),
        ("product",),
        ("method", "product"),
        ("ip",),
        ("resource_id", "resource_type"),
    }
    assert found[("principal",)]["principal"] == [str(owner.pk)]
    assert found[("ip",)]["ip"] == ["212.133.41.37"]
    assert found[("method", "product")] == {
        "status": ["200"],
        "range": ["24h"],
        "product": ["secret-manager"],
        "method": ["CreateSecret"],
    }
    resource = event.resources[0]
    assert found[("resource_id", "resource_type")]["resource_id"] == [resource["id"]]
    # Every pivot keeps the list's filters and starts again from its first page.
    assert all(p["status"] == ["200"] and p["range"] == ["24h"] and "cursor" not in p for p in found.values())


def test_following_a_pivot_shows_only_events_with_that_value(auditor_client, acme_events):
    html = html_of(auditor_client.get(URL))
    ip_link = next(u for u in links(html) if params(u).get("ip") == ["5.6.7.8"])
    narrowed = auditor_client.get(ip_link)
    assert len(rows(narrowed)) == 2
    assert 'value="5.6.7.8"' in html_of(narrowed)  # the filter shows what narrowed the list
    principal_link = next(u for u in links(html) if "principal" in params(u))
    assert 0 < len(rows(auditor_client.get(principal_link))) < len(rows(auditor_client.get(URL)))


def test_a_row_leaves_out_pivots_the_filters_would_refuse(auditor_client, acme, owner):
    record_many(
        make_events(
            acme,
            1,
            actor=Actor.system(),
            product_name="made-up-product",
            method_name="DoSomething",
            resources=[{"type": "x"}],
        )
        + make_events(
            acme,
            1,
            actor=Actor.system(),
            product_name="made-up-product",
            method_name="DoSomething",
            resources=[{"type": "x", "id": "y" * 129}],
        )
    )
    html = html_of(auditor_client.get(URL))
    assert links(html) == []  # no principal, unknown product and method, no usable resource ID, no IP
    record_many(
        make_events(
            acme,
            1,
            actor=Actor.system(),
            product_name="made-up-product",
            method_name="DoSomething",
            resources=[{"type": "made_up_type", "id": "r-1"}],
        )
    )
    [by_id] = links(html_of(auditor_client.get(URL)))
    assert params(by_id) == {"resource_id": ["r-1"]}  # a type the filter does not list: the ID alone
    assert len(rows(auditor_client.get(by_id))) == 1


def test_the_drawer_pivots_too_keeping_the_lists_query(auditor_client, acme_events, removed_member):
    event = acme_events.filter(principal_id=removed_member.pk).first()
    url = reverse("audit:event", args=[event.pk])
    drawer = html_of(auditor_client.get(url, {"status": "403"}, headers=HX_DRAWER))
    hrefs = [u.replace("&amp;", "&") for u in re.findall(r'href="(/audit-trail/events/\?[^"]+)"', drawer)]
    narrowed = [params(u) for u in hrefs if params(u).get("status") == ["403"]]
    assert {"principal": [str(removed_member.pk)], "status": ["403"]} in narrowed
    assert {"ip": ["5.6.7.8"], "status": ["403"]} in narrowed
    assert {"product": ["iam"], "method": ["CreateAPIKey"], "status": ["403"]} in narrowed
    assert {"product": ["iam"], "status": ["403"]} in narrowed


# --- §13: where am I ---------------------------------------------------------------------------


@pytest.fixture
def hundred_twenty(acme, owner):
    record_many(make_events(acme, 120, actor=actor_for(owner), minutes_ago=1, spacing=timedelta(seconds=10)))


def _link(html: str, rel: str) -> str:
    return re.search(rf'rel="{rel}" href="([^"]+)"', html)[1].replace("&amp;", "&")


def test_pages_say_which_events_they_show_going_older_and_back(auditor_client, hundred_twenty):
    first = html_of(auditor_client.get(URL, {"range": "24h"}))
    assert '<p class="position">Events 1–50</p>' in first and "Events 1–50 of 120" in first
    second = html_of(auditor_client.get(_link(first, "next")))
    assert '<p class="position">Events 51–100</p>' in second and "Events 51–100 of 120" in second
    third = html_of(auditor_client.get(_link(second, "next"), headers=HX_RESULTS))
    assert "Events 101–120 of 120" in third
    back = html_of(auditor_client.get(_link(third, "prev")))
    assert "Events 51–100 of 120" in back
    assert "Events 1–50 of 120" in html_of(auditor_client.get(_link(back, "prev")))


def test_oldest_first_pages_count_from_the_oldest(auditor_client, hundred_twenty):
    first = html_of(auditor_client.get(URL, {"range": "24h", "order": "recorded_at"}))
    assert "Events 51–100 of 120" in html_of(auditor_client.get(_link(first, "next")))


def test_a_page_link_without_a_position_still_pages(auditor_client, acme, hundred_twenty):
    """Links made before pages knew their place (or by the API) page as before, without numbers."""
    from audit.models import Event

    fiftieth = Event.objects.filter(organization_id=acme.pk).order_by("-recorded_at", "-id")[49]
    response = auditor_client.get(URL, {"range": "24h", "cursor": Cursor.of(fiftieth).encode()})
    assert len(rows(response)) == 50
    assert "Events 51" not in html_of(response) and "120 events" in html_of(response)


def test_a_forged_position_is_a_form_error_not_a_500(auditor_client, acme, hundred_twenty):
    import base64
    import json

    for index in (-1, 10**13, "7", 1.5):
        raw = json.dumps([timezone.now().isoformat(), "01234567-89ab-7def-8123-456789abcdef", 0, index])
        token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        response = auditor_client.get(URL, {"cursor": token})
        assert response.status_code == 200
        assert "This page link is not valid any more" in html_of(response)


def test_cursors_carry_the_rows_place_in_the_list(acme, owner, hundred_twenty):
    from audit.models import Event

    qs = Event.objects.filter(organization_id=acme.pk)
    first = event_page(qs, page_size=50, numbered=True)
    assert (first.first_number, first.last_number) == (1, 50)
    second = event_page(qs, cursor=Cursor.decode(first.next_cursor.encode()), page_size=50, numbered=True)
    assert (second.first_number, second.last_number) == (51, 100)
    back = event_page(qs, cursor=Cursor.decode(second.previous_cursor.encode()), page_size=50, numbered=True)
    assert (back.first_number, back.last_number) == (1, 50)
    assert [e.pk for e in back.events] == [e.pk for e in first.events]
    # Pages not asked to number themselves (the API's, the IAM logs') hand out the tokens they did.
    plain = event_page(qs, page_size=50)
    assert plain.first_number is None and plain.next_cursor.index is None


def test_totals_are_exact_below_ten_thousand(auditor_client, acme, owner):
    record_many(make_events(acme, 1001, actor=actor_for(owner), minutes_ago=1, spacing=timedelta(seconds=1)))
    html = html_of(auditor_client.get(URL, {"range": "24h"}))
    assert "<strong>1,001</strong> events" in html and "Events 1–50 of 1,001" in html
    assert "about" not in html.split('class="summary"')[1].split("</p>")[0]


def test_past_ten_thousand_the_total_is_a_floor_and_an_estimate(auditor_client, acme, owner, monkeypatch):
    monkeypatch.setattr("audit.views.EXACT_COUNT_CAP", 100)
    record_many(make_events(acme, 1234, actor=actor_for(owner), minutes_ago=1, spacing=timedelta(seconds=1)))
    html = html_of(auditor_client.get(URL, {"range": "24h"}))
    assert '<strong>100+</strong> events <span class="muted">(about 1,200)</span>' in html
    assert "Events 1–50 of 100+" in html


# --- §9: the timeline and the method box ---------------------------------------------------------


def test_the_timeline_keeps_quiet_buckets_visible_beside_a_spike():
    # Linear, 1 of 307 drew the 3-unit minimum; on the square-root scale it is a sixth of the peak.
    assert _height(307, 307) == 100
    assert _height(1, 307) >= 5.7
    assert _height(10, 307) >= 18
    assert _height(0, 307) == 0
    assert _height(76, 307) < _height(77, 307) < _height(78, 307)  # still ordered


def test_the_timeline_labels_its_quarters_as_well_as_its_ends(auditor_client, acme, owner):
    # The burst sits in the middle of one aligned bucket, so no bucket edge can split its peak.
    width = bucket_width(timedelta(hours=24))
    now = timezone.now().timestamp()
    middle = (now - 2 * width) // width * width + width / 2
    minutes_ago = (now - middle) / 60
    record_many(
        make_events(
            acme, 300, actor=actor_for(owner), minutes_ago=minutes_ago, spacing=timedelta(seconds=0.2)
        )
    )
    record_many(make_events(acme, 1, actor=actor_for(owner), minutes_ago=60 * 20))
    html = html_of(auditor_client.get(URL, {"range": "24h"}))
    axis = html.split('class="timeline-axis')[1].split("</div>")[0]
    assert len(re.findall(r"<time datetime=", axis)) == 5
    heights = [
        float(h)
        for h in re.findall(r'class="bar-ok" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', html)
    ]
    assert max(heights) == 100 and min(heights) >= 5  # the lone event is no 1-px sliver
    assert "√ scale · peak 300" in html
    assert '<span class="y-mid">75</span>' in html  # half height is a quarter of the peak


def test_axis_ticks_split_the_chart_in_quarters(acme, owner):
    from audit.selectors import EventQuery, event_queryset, event_timeline

    end = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    query = EventQuery(region="fr-par", recorded_after=end - timedelta(hours=24), recorded_before=end)
    qs = event_queryset(organization_id=acme.pk, query=query)
    timeline = event_timeline(
        qs, organization_id=acme.pk, query=query, start=end - timedelta(hours=24), end=end
    )
    with timezone.override(PARIS):
        ticks = _axis(timeline)
    assert [t["iso"] for t in ticks] == [
        "2026-01-04T12:00:00Z",
        "2026-01-04T18:00:00Z",
        "2026-01-05T00:00:00Z",
        "2026-01-05T06:00:00Z",
        "2026-01-05T12:00:00Z",
    ]
    assert [t["text"] for t in ticks] == [
        "2026-01-04 13:00 +01:00",
        "19:00",
        "01:00",
        "07:00",
        "2026-01-05 13:00 +01:00",
    ]


def test_without_a_product_the_method_is_a_box_that_suggests_every_method(auditor_client, acme_events):
    html = html_of(auditor_client.get(URL))
    assert re.search(r'<input type="text" name="method"[^>]*list="method-options"', html)
    options = re.findall(
        r'<option value="([^"]+)"></option>',
        html.split('<datalist id="method-options">')[1].split("</datalist>")[0],
    )
    assert len(options) > 200 and "CreateAPIKey" in options and "CreateSecret" in options
    # A product narrows it to a drop-down of its own methods, with no suggestions.
    html = html_of(auditor_client.get(URL, {"product": "iam"}))
    assert '<select name="method"' in html and "method-options" not in html


def test_a_typed_method_filters_or_says_it_is_unknown(auditor_client, acme_events):
    assert len(rows(auditor_client.get(URL, {"method": "CreateAPIKey"}))) == 2
    html = html_of(auditor_client.get(URL, {"method": "createapikey"}))
    assert "Unknown method “createapikey”. Pick one from the list." in html
