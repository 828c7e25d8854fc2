"""Audit Trail ▸ Sign-ins: the console's ListAuthenticationEvents (issue 10, item 14)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuthenticationEvent, Event
from core.ids import uuid7

URL = reverse("audit:sign_ins")
HX_RESULTS = {"HX-Request": "true", "HX-Target": "sign-in-results"}
HX_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
ROW = re.compile(r'<tr [^>]*data-sign-in-id="([0-9a-f-]+)"')
ATTACKER = "185.220.101.47"

Result, Reason = AuthenticationEvent.Result, AuthenticationEvent.FailureReason


def rows(response) -> list[str]:
    return ROW.findall(response.content.decode())


def sign_in(organization, email, *, ago, result=Result.SUCCESS, reason="", ip="81.250.12.34", mfa=""):
    at = timezone.now() - ago
    return AuthenticationEvent.objects.create(
        id=uuid7(at),
        recorded_at=at,
        organization_id=organization.pk if organization else None,
        email=email,
        source_ip=ip,
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        result=result,
        failure_reason=reason,
        mfa_type=mfa,
    )


@pytest.fixture
def sign_ins(acme, outsider):
    """A week of Acme's sign-ins, a brute-force attempt three nights ago, and others' attempts."""
    from iam.models import Organization

    made = [sign_in(acme, "owner@acme.test", ago=timedelta(days=d, hours=2), mfa="totp") for d in range(5)]
    made.append(
        sign_in(
            acme,
            "auditor@acme.test",
            ago=timedelta(days=1),
            result=Result.FAILURE,
            reason=Reason.INVALID_PASSWORD,
            ip="81.250.12.51",
        )  # fmt: skip
    )
    night = timedelta(days=3, hours=7)
    for i in range(8):
        made.append(
            sign_in(
                acme,
                "owner@acme.test",
                ago=night - timedelta(seconds=7 * i),
                result=Result.FAILURE,
                reason=Reason.THROTTLED if i >= 5 else Reason.INVALID_PASSWORD,
                ip=ATTACKER,
            )  # fmt: skip
        )
    sign_in(Organization.objects.get(name="Globex"), "outsider@globex.test", ago=timedelta(hours=1))
    sign_in(
        None, "admin@acme.test", ago=night, result=Result.FAILURE, reason=Reason.UNKNOWN_USER, ip=ATTACKER
    )
    return made


# --- the three request types ---------------------------------------------------------------------


def test_full_page_lists_the_organizations_sign_ins_of_the_last_week(auditor_client, sign_ins):
    response = auditor_client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html and 'id="sign-in-filters"' in html
    assert len(rows(response)) == 14
    assert 'aria-current="page">Sign-ins</a>' in html
    assert "outsider@globex" not in html and "admin@acme.test" not in html
    assert response["Vary"].count("HX-Request") == 1 and "HX-Target" in response["Vary"]


def test_results_target_renders_only_the_results(auditor_client, sign_ins):
    response = auditor_client.get(URL, {"result": "failure"}, headers=HX_RESULTS)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="sign-in-results"') and "<html" not in html
    assert len(rows(response)) == 9


def test_history_restore_gets_the_full_page(auditor_client, sign_ins):
    response = auditor_client.get(URL, {"result": "failure"}, headers=HX_RESTORE)
    html = response.content.decode()
    assert "<html" in html and len(rows(response)) == 9
    assert '<option value="failure" selected>' in html


def test_the_events_page_links_to_the_sign_ins_tab(auditor_client, sign_ins):
    html = auditor_client.get(reverse("audit:events")).content.decode()
    assert f'href="{URL}?region=fr-par">Sign-ins</a>' in html


# --- filters -----------------------------------------------------------------------------------


def test_result_filter(auditor_client, sign_ins):
    assert len(rows(auditor_client.get(URL, {"result": "success"}))) == 5
    assert len(rows(auditor_client.get(URL, {"result": "failure"}))) == 9
    assert len(rows(auditor_client.get(URL, {"result": "throttled"}))) == 3


def test_email_filter_matches_part_of_the_address_in_any_case(auditor_client, sign_ins):
    assert len(rows(auditor_client.get(URL, {"email": "AUDITOR@"}))) == 1
    assert len(rows(auditor_client.get(URL, {"email": "owner@acme.test"}))) == 13


def test_ip_filter_takes_an_address_or_a_network(auditor_client, sign_ins):
    assert len(rows(auditor_client.get(URL, {"ip": ATTACKER}))) == 8
    assert len(rows(auditor_client.get(URL, {"ip": "81.250.0.0/16"}))) == 6
    response = auditor_client.get(URL, {"ip": "nope", "result": "maybe"})
    html = response.content.decode()
    assert response.status_code == 200 and "Some filters are not valid" in html
    assert "Enter an IP address" in html and rows(response) == []


def test_time_range_presets(auditor_client, acme):
    sign_in(acme, "owner@acme.test", ago=timedelta(days=20))
    assert rows(auditor_client.get(URL)) == []
    assert len(rows(auditor_client.get(URL, {"range": "30d"}))) == 1
    assert auditor_client.get(URL, {"range": "1y"}).status_code == 200


def test_sign_ins_are_listed_under_fr_par_only_as_the_api_does(auditor_client, sign_ins):
    response = auditor_client.get(URL, {"region": "nl-ams"})
    assert rows(response) == []
    assert "Sign-ins are global: they are listed under fr-par." in response.content.decode()


# --- the brute-force attempt -------------------------------------------------------------------


def test_a_burst_of_failures_from_one_ip_stands_out(auditor_client, sign_ins):
    html = auditor_client.get(URL).content.decode()
    sources = html.split('id="failed-sources-title"')[1].split("</table>")[0]
    first = sources.split("<tr")[2]  # the header row, then the most failures first
    assert ATTACKER in first and "Possible brute force" in first
    assert ">8</td>" in first and ">3</td>" in first  # failures, of which throttled
    assert sources.count("Possible brute force") == 1  # one mistyped password is no attack
    link = unescape(re.search(r'<a href="([^"]+)"', first).group(1))
    assert link == f"{URL}?ip={ATTACKER}&result=failure"
    assert len(rows(auditor_client.get(link))) == 8
    assert html.count('class="row-failed row-burst ') == 8


# --- paging ------------------------------------------------------------------------------------


def test_pages_move_older_and_newer_by_keyset(auditor_client, acme):
    for i in range(60):
        sign_in(acme, f"user{i:02}@acme.test", ago=timedelta(minutes=i + 1))
    first = auditor_client.get(URL)
    assert len(rows(first)) == 50 and "user00@" in first.content.decode()
    older = unescape(re.search(r'rel="next" href="([^"]+)"', first.content.decode()).group(1))
    assert "cursor=" in older
    second = auditor_client.get(older)
    assert len(rows(second)) == 10 and "user59@" in second.content.decode()
    newer = unescape(re.search(r'rel="prev" href="([^"]+)"', second.content.decode()).group(1))
    assert rows(auditor_client.get(newer)) == rows(first)
    assert "This page link is not valid" in auditor_client.get(URL, {"cursor": "garbage"}).content.decode()


# --- isolation and permissions -----------------------------------------------------------------


def test_an_outsider_sees_only_their_own_organizations_sign_ins(outsider_client, sign_ins):
    response = outsider_client.get(URL)
    html = response.content.decode()
    assert len(rows(response)) == 1 and "outsider@globex.test" in html
    assert "owner@acme" not in html and ATTACKER not in html


def test_a_member_without_rights_gets_a_403_that_is_recorded(member_client, member_without_rights, acme):
    response = member_client.get(URL)
    assert response.status_code == 403
    denial = Event.objects.get(organization_id=acme.pk, principal_id=member_without_rights.pk)
    assert denial.status_code == 403 and denial.method_name == "ListAuthenticationEvents"


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]


# session, user, organizations, membership + rules, the page, the failed sources.
SIGN_IN_QUERIES = 7


@pytest.mark.parametrize("n", [1, 12])
def test_sign_ins_run_a_constant_number_of_queries(auditor_client, acme, django_assert_num_queries, n):
    for i in range(n):
        sign_in(acme, "owner@acme.test", ago=timedelta(minutes=i + 1), result=Result.FAILURE, ip=ATTACKER)
    with django_assert_num_queries(SIGN_IN_QUERIES):
        response = auditor_client.get(URL)
    assert len(rows(response)) == n


def test_the_range_drop_down_shows_the_default_week_so_other_filters_keep_it(auditor_client, sign_ins):
    html = auditor_client.get(URL, {"result": "failure"}).content.decode()
    assert '<option value="7d" selected>' in html
