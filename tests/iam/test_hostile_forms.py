"""Hostile input on the IAM console: the Logs filters and every create and edit form (invite,
applications, groups and their members, policies with their rules, API keys) answer anything with
the form and its errors, or do what was asked; never a server error."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from iam.logs import LOG_ACTIONS, LOG_RESOURCE_TYPES
from iam.permission_sets import CATALOGUE
from tests.factories import ApplicationFactory, GroupFactory, ProjectFactory, grant
from tests.hostile import (
    HOSTILE,
    NASTY,
    assert_handled,
    cursors,
    field,
    rolled_back,
    shows_an_error,
    timestamps,
    uuids,
)

ZONES = st.sampled_from(["UTC", "Etc/GMT+12", "Pacific/Kiritimati"])


@pytest.fixture
def iam(owner_client, owner, acme, auditor):
    """Acme with something in every list, and every choice a form offers."""
    project = ProjectFactory(organization=acme, name="web-shop")
    application = ApplicationFactory(organization=acme, name="billing-bot")
    group = GroupFactory(organization=acme, name="Developers")
    policy = grant(application, acme, "AuditTrailReadOnly")
    # Every IAM change leaves a log entry: a few real ones for the Logs page.
    owner_client.post("/iam/applications/create/", {"name": "log-shipper"})
    return {
        "client": owner_client,
        "owner": owner,
        "project": str(project.pk),
        "application": f"application:{application.pk}",
        "application_id": str(application.pk),
        "user": f"user:{auditor.pk}",
        "group": f"group:{group.pk}",
        "group_id": str(group.pk),
        "policy_id": str(policy.pk),
    }


def posted(response, caplog) -> None:
    """Done (a redirect, or 204 for htmx), or the form again with what is wrong on it."""
    assert_handled(response, caplog, allowed=(200, 204, 302))
    if response.status_code == 200:
        assert shows_an_error(response), response.content.decode()[:2000]


# --- IAM ▸ Logs ----------------------------------------------------------------------------------

LOG_FILTERS = {
    "created_after": timestamps(),
    "created_before": timestamps(),
    "action": field(*LOG_ACTIONS),
    "resource_type": field(*LOG_RESOURCE_TYPES),
    "bearer_id": uuids(),
    "sort": field("created_at", "-created_at"),
    "cursor": cursors(),
}


@pytest.mark.django_db
@HOSTILE
@given(query=st.fixed_dictionaries({}, optional=LOG_FILTERS), zone=ZONES)
@example(query={"created_after": "2026-11-29T10:00:00-19:00"}, zone="UTC")
@example(query={"created_before": "0001-01-01T00:00:00+01:00"}, zone="Etc/GMT+12")
def test_any_logs_filter_answers_the_logs_page(iam, caplog, query, zone):
    owner = iam["owner"]
    with rolled_back(caplog):
        owner.time_zone = zone
        owner.save(update_fields=["time_zone"])
        response = iam["client"].get("/iam/logs/", query)
    assert_handled(response, caplog, allowed=(200,))


# --- create and edit forms ---------------------------------------------------------------------


@pytest.mark.django_db
@HOSTILE
@given(email=st.one_of(st.emails(), field("new@acme.test")))
def test_any_invitation_address_is_invited_or_refused_on_the_form(iam, caplog, email):
    with rolled_back(caplog):
        response = iam["client"].post("/iam/users/invite/", {"email": email})
    posted(response, caplog)


NAMED = st.fixed_dictionaries({"name": field("reporting"), "description": field("What it is for")})


@pytest.mark.django_db
@HOSTILE
@given(data=NAMED, edit=st.booleans())
def test_any_application_name_is_saved_or_refused_on_the_form(iam, caplog, data, edit):
    url = f"/iam/applications/{iam['application_id']}/" if edit else "/iam/applications/create/"
    with rolled_back(caplog):
        response = iam["client"].post(url, data)
    posted(response, caplog)


@pytest.mark.django_db
@HOSTILE
@given(data=NAMED)
def test_any_group_name_is_saved_or_refused_on_the_form(iam, caplog, data):
    with rolled_back(caplog):
        response = iam["client"].post("/iam/groups/create/", data)
    posted(response, caplog)


@pytest.mark.django_db
@HOSTILE
@given(
    member=st.one_of(
        field("me"),
        st.builds(lambda kind, pk: f"{kind}:{pk}", field("user", "application", "group"), uuids()),
    )
)
def test_any_group_member_is_added_or_refused(iam, caplog, member):
    client = iam["client"]
    with rolled_back(caplog):
        added = client.post(f"/iam/groups/{iam['group_id']}/members/add/", {"member": member})
        posted(added, caplog)
        removed = client.post(f"/iam/groups/{iam['group_id']}/members/remove/", {"member": member})
    # Removal answers a redirect either way, with a message when the member is not in the group.
    assert_handled(removed, caplog, allowed=(204, 302))


def _rules(draw_rule: st.SearchStrategy[dict[str, object]]) -> st.SearchStrategy[dict[str, object]]:
    """A rules formset as the browser posts it: management form (possibly tampered) and rules."""

    def build(total: object, rules: list[dict[str, object]]) -> dict[str, object]:
        data: dict[str, object] = {"rules-TOTAL_FORMS": total, "rules-INITIAL_FORMS": "0"}
        for index, rule in enumerate(rules):
            data |= {f"rules-{index}-{key}": value for key, value in rule.items()}
        return data

    return st.builds(
        build,
        st.one_of(st.integers(0, 3).map(str), st.sampled_from(["-1", "21", "1000000", "x", ""])),
        st.lists(draw_rule, max_size=3),
    )


@pytest.mark.django_db
@HOSTILE
@given(data=st.data(), edit=st.booleans())
def test_any_policy_and_rules_are_saved_or_refused_on_the_form(iam, caplog, data, edit):
    names = sorted(CATALOGUE)
    rule = st.fixed_dictionaries(
        {},
        optional={
            "permission_set_names": st.lists(field(*names), max_size=3),
            "scope": field("organization", "projects"),
            "project_ids": st.lists(
                st.one_of(st.just(iam["project"]), uuids(), st.sampled_from(NASTY)), max_size=2
            ),
        },
    )
    form = data.draw(
        st.fixed_dictionaries(
            {
                "name": field("auditors"),
                "description": field("Read the trail"),
                "principal": field("", iam["user"], iam["application"], iam["group"]),
            }
        )
    )
    rules = data.draw(_rules(rule))
    url = f"/iam/policies/{iam['policy_id']}/" if edit else "/iam/policies/new/"
    with rolled_back(caplog):
        response = iam["client"].post(url, form | rules)
    posted(response, caplog)


@pytest.mark.django_db
@HOSTILE
@given(
    data=st.fixed_dictionaries(
        {
            "bearer": st.sampled_from(["me"]) | field("application:x"),
            "description": field("CI"),
            "default_project": st.one_of(st.just(""), uuids(), st.sampled_from(NASTY)),
            "expires_at": st.one_of(st.just(""), timestamps()),
        }
    ),
    zone=ZONES,
)
@example(
    data={
        "bearer": "me",
        "description": "",
        "default_project": "",
        "expires_at": "2099-11-29T10:00:00+21:00",
    },
    zone="UTC",
)
@example(
    data={"bearer": "me", "description": "", "default_project": "", "expires_at": "9999-12-31T23:59"},
    zone="Pacific/Kiritimati",
)
def test_any_api_key_form_creates_the_key_or_refuses_on_the_form(iam, caplog, data, zone):
    owner = iam["owner"]
    if data["bearer"] == "application:x":
        data = data | {"bearer": iam["application"]}
    with rolled_back(caplog):
        owner.time_zone = zone
        owner.save(update_fields=["time_zone"])
        response = iam["client"].post("/iam/api-keys/create/", data, follow=True)
    assert_handled(response, caplog, allowed=(200,))
    page = response.content.decode()
    # Created (the secret, shown once) or refused (the form with its errors).
    assert "API key generated" in page or shows_an_error(response), page[:2000]
