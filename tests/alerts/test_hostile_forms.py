"""Hostile input on Alerting Management and Notification contacts: the custom rule form and its
backtest, the rules' settings, and the contact forms answer anything with the form and its errors,
or do what was asked; never a server error."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from alerts.forms import WINDOWS
from alerts.models import CustomAlertRule, NotificationContact
from alerts.rules import PRECONFIGURED, Severity
from tests.api.conftest import make_events
from tests.hostile import HOSTILE, NASTY, assert_handled, field, rolled_back, shows_an_error, text

REGIONS = field("fr-par", "nl-ams", "pl-waw")
# CEL as people write it, right and wrong: calls, arithmetic that fails at run time, deep nesting.
QUERIES = st.one_of(
    st.sampled_from(
        [
            'status_code == 403 && product_name == "secret-manager"',
            'method_name.startsWith("Create")',
            "size(resources) > 0",
            "1 / 0 == 1",
            "status_code / 0 > 1",
            "resources[99].id == 'x'",
            'request_body.a.b == "x"',
            '"a" + 1 == "a1"',
            "status_code ==",
            "(" * 200 + "true" + ")" * 200,
            "!" * 500 + "true",
            "timestamp('9999-12-31T23:59:59Z') > recorded_at",
            "duration('100000000000h') > duration('1s')",
        ]
    ),
    text(200),
    st.sampled_from(NASTY),
)
RULE = {
    "name": field("Secret reads"),
    "description": field("", "Someone read a secret"),
    "query": QUERIES,
    "occurrences": field("1", "5", "100000"),
    "evaluation_window": field(*(str(seconds) for seconds, _ in WINDOWS)),
    "severity": field(*(value for value, _ in Severity.CHOICES)),
    "enabled": field("on", ""),
}


@pytest.fixture
def alerting(owner_client, acme):
    make_events(acme, 20)
    rule = CustomAlertRule.objects.create(organization=acme, region="fr-par", name="mine", query="true")
    contact = NotificationContact.objects.create(organization=acme, email="soc@acme.test", security=True)
    return {"client": owner_client, "rule": str(rule.pk), "contact": str(contact.pk)}


@pytest.mark.django_db
@HOSTILE
@given(data=st.fixed_dictionaries({}, optional=RULE), region=REGIONS)
def test_any_custom_rule_is_created_or_refused_on_the_form(alerting, caplog, data, region):
    with rolled_back(caplog):
        response = alerting["client"].post(f"/audit-trail/alerting/custom-rules/new/?region={region}", data)
    assert_handled(response, caplog, allowed=(200, 302))
    if response.status_code == 200 and data:  # an empty POST is read as a GET: the blank form
        assert shows_an_error(response), response.content.decode()[:2000]


@pytest.mark.django_db
@HOSTILE
@given(data=st.fixed_dictionaries({}, optional=RULE), htmx=st.booleans())
@example(data={"query": "status_code == 403", "occurrences": "x", "evaluation_window": "-5"}, htmx=True)
def test_any_backtest_answers_a_count_or_what_is_wrong(alerting, caplog, data, htmx):
    headers = {"HX-Request": "true", "HX-Target": "backtest"} if htmx else {}
    with rolled_back(caplog):
        response = alerting["client"].post(
            "/audit-trail/alerting/custom-rules/new/", data | {"action": "backtest"}, headers=headers
        )
    assert_handled(response, caplog, allowed=(200,))


SETTINGS = st.fixed_dictionaries(
    {},
    optional={f"rule_{rule.name}": field("on", "true", "") for rule in PRECONFIGURED},
)


@pytest.mark.django_db
@HOSTILE
@given(data=SETTINGS, custom=field("on", ""), region=REGIONS)
def test_any_rule_settings_are_saved_or_ignored(alerting, caplog, data, custom, region):
    with rolled_back(caplog):
        response = alerting["client"].post(
            f"/audit-trail/alerting/?region={region}", data | {f"custom_{alerting['rule']}": custom}
        )
    assert_handled(response, caplog, allowed=(200, 302))


@pytest.mark.django_db
@HOSTILE
@given(
    query=st.fixed_dictionaries(
        {},
        optional={
            "region": REGIONS,
            "page": field("1", "2"),
            "per_page": field("20"),
            "sort": field("fired_at"),
        },
    ),
    htmx=st.booleans(),
)
@example(query={"per_page": "-1", "page": "-1"}, htmx=False)
@example(query={"per_page": "0", "sort": "-nope"}, htmx=True)
@example(query={"per_page": "99999999999999999999", "page": "99999999999999999999"}, htmx=False)
def test_any_alert_list_query_answers_the_page(alerting, caplog, query, htmx):
    headers = {"HX-Request": "true", "HX-Target": "fired-alerts"} if htmx else {}
    with rolled_back(caplog):
        response = alerting["client"].get("/audit-trail/alerting/", query, headers=headers)
    assert_handled(response, caplog, allowed=(200,))


TYPES = st.lists(field(*NotificationContact.Type.values), max_size=4)


@pytest.mark.django_db
@HOSTILE
@given(email=st.one_of(st.emails(), field("ops@acme.test", "SOC@acme.test")), types=TYPES)
def test_any_new_contact_is_added_or_refused_on_the_form(alerting, caplog, email, types):
    with rolled_back(caplog):
        response = alerting["client"].post("/contacts/", {"email": email, "types": types})
    assert_handled(response, caplog, allowed=(200, 302))
    if response.status_code == 200:
        assert shows_an_error(response), response.content.decode()[:2000]


@pytest.mark.django_db
@HOSTILE
@given(types=TYPES, prefix=st.one_of(st.none(), text(40)))
def test_any_contact_types_are_saved_or_refused_with_a_message(alerting, caplog, types, prefix):
    contact = alerting["contact"]
    name = f"{prefix if prefix is not None else contact}-types"
    with rolled_back(caplog):
        response = alerting["client"].post(f"/contacts/{contact}/", {name: types}, follow=True)
    assert_handled(response, caplog, allowed=(200,))
    # Saved, or refused with a message naming the contact and what is wrong.
    assert "soc@acme.test: " in response.content.decode()
