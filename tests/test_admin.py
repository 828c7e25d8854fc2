"""The Django admin: IAM objects are editable, events are viewable and searchable, never editable."""

from __future__ import annotations

import uuid

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from audit.models import AuthenticationEvent, Event
from audit.services import Actor, build_event, record, record_many
from iam.models import APIKey, Application, Group, Membership, Organization, Policy, Project, Rule, User
from iam.services import api_key_create
from tests.factories import PASSWORD, ApplicationFactory, GroupFactory, UserFactory, grant


@pytest.fixture
def staff(db) -> User:
    return UserFactory(email="staff@audit-trail.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _event(organization_id, **overrides) -> Event:
    return build_event(**_fields(organization_id) | overrides)


@pytest.fixture
def world(acme, project, auditor, removed_member, owner):
    application = ApplicationFactory(organization=acme, name="terraform-ci")
    group = GroupFactory(organization=acme, name="Developers")
    group.users.add(auditor)
    grant(application, acme, "AllProductsFullAccess", project_ids=[str(project.pk)])
    key, _ = api_key_create(
        actor=Actor.of(owner), organization=acme, application=application, description="ci"
    )
    event = record(**_fields(acme.pk))
    login = AuthenticationEvent.objects.create(email=owner.email, user_id=owner.pk, result="success")
    return {
        Organization: acme,
        Project: project,
        User: auditor,
        Membership: Membership.objects.get(user=removed_member),
        Application: application,
        Group: group,
        Policy: Policy.objects.filter(application=application).get(),
        APIKey: key,
        Event: event,
        AuthenticationEvent: login,
    }


def _fields(organization_id) -> dict:
    return {
        "organization_id": organization_id,
        "actor": Actor(principal_type="user", principal_id=uuid.uuid4(), principal_name="a@acme.test"),
        "product_name": "secret-manager",
        "service_name": "scaleway.secret_manager.v1beta1.Api",
        "method_name": "CreateSecret",
        "locality": "nl-ams",
        "request_body": {"name": "db-pass", "password": "hunter2"},
    }


MODELS = [
    Organization,
    Project,
    User,
    Membership,
    Application,
    Group,
    Policy,
    APIKey,
    Event,
    AuthenticationEvent,
]


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_the_issue_names_is_registered():
    assert set(MODELS) <= set(admin.site._registry)
    assert Rule not in admin.site._registry  # edited inline on its policy


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_staff_can_open_each_changelist_and_change_view(staff_client, world, model):
    assert staff_client.get(_url(model, "changelist")).status_code == 200
    obj = world[model]
    response = staff_client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert str(obj.pk) in response.text


@pytest.mark.parametrize("model", [Organization, Project, User, Membership, Application, Group, Policy])
def test_iam_objects_are_editable(staff_client, world, model):
    assert staff_client.get(_url(model, "add")).status_code == 200
    response = staff_client.get(_url(model, "change", world[model].pk))
    assert 'name="_save"' in response.text


@pytest.mark.parametrize("model", [Event, AuthenticationEvent], ids=lambda m: m.__name__)
def test_events_are_read_only_and_cannot_be_added_or_deleted(staff_client, world, model):
    obj = world[model]
    change = staff_client.get(_url(model, "change", obj.pk))
    assert change.status_code == 200
    assert 'name="_save"' not in change.text
    assert "Delete" not in change.text
    assert staff_client.post(_url(model, "change", obj.pk), {"method_name": "X"}).status_code == 403
    assert staff_client.get(_url(model, "delete", obj.pk)).status_code == 403
    assert staff_client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert staff_client.get(_url(model, "add")).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_the_event_change_view_shows_the_redacted_request_body(staff_client, world):
    response = staff_client.get(_url(Event, "change", world[Event].pk))
    assert "REDACTED" in response.text
    assert "hunter2" not in response.text


def test_events_are_searchable_by_exact_organization_and_event_id(staff_client, world, acme):
    other = _fields(uuid.uuid4()) | {"method_name": "DeleteSecret"}
    record(**other)
    changelist = _url(Event, "changelist")
    by_org = staff_client.get(changelist, {"q": str(acme.pk)})
    assert by_org.status_code == 200
    methods = {e.method_name for e in by_org.context["cl"].result_list}
    assert "DeleteSecret" not in methods and "CreateSecret" in methods
    by_id = staff_client.get(changelist, {"q": str(world[Event].pk)})
    assert [e.pk for e in by_id.context["cl"].result_list] == [world[Event].pk]
    garbage = staff_client.get(changelist, {"q": "not-a-uuid"})
    assert garbage.status_code == 200


def test_events_filter_by_region_and_status(staff_client, world, acme):
    record(**_fields(acme.pk) | {"locality": "global", "status_code": 403})
    changelist = _url(Event, "changelist")
    paris = staff_client.get(changelist, {"region": "fr-par"}).context["cl"].result_list
    assert {e.region for e in paris} == {"fr-par"}
    assert world[Event] not in paris  # recorded in nl-ams
    refused = staff_client.get(changelist, {"status": "403"}).context["cl"].result_list
    assert [e.status_code for e in refused] == [403]


def test_the_event_changelist_costs_the_same_queries_whatever_the_number_of_events(
    staff_client, world, acme, django_assert_num_queries
):
    changelist = _url(Event, "changelist")
    staff_client.get(changelist)  # warm up the session and content types
    with django_assert_num_queries(4) as few:
        assert staff_client.get(changelist).status_code == 200
    record_many([_event(acme.pk) for _ in range(60)])
    with django_assert_num_queries(len(few.captured_queries)):
        response = staff_client.get(changelist)
    assert len(response.context["cl"].result_list) == 50


def test_api_key_secret_hash_is_never_shown_and_keys_are_not_added_here(staff_client, world):
    key = world[APIKey]
    response = staff_client.get(_url(APIKey, "change", key.pk))
    assert key.secret_key_hash not in response.text
    assert 'name="secret_key_hash"' not in response.text
    assert staff_client.get(_url(APIKey, "add")).status_code == 403


def test_deleting_an_api_key_in_the_admin_is_recorded(staff_client, staff, world, acme):
    key = world[APIKey]
    response = staff_client.post(_url(APIKey, "delete", key.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not APIKey.objects.filter(pk=key.pk).exists()
    event = Event.objects.get(organization_id=acme.pk, method_name="DeleteAPIKey")
    assert event.principal_id == staff.pk
    assert event.request_body == {"access_key": key.access_key}


def test_policies_edit_their_rules_inline(staff_client, world):
    policy = world[Policy]
    response = staff_client.get(_url(Policy, "change", policy.pk))
    assert "rules-TOTAL_FORMS" in response.text
    assert "AllProductsFullAccess" in response.text


def test_staff_can_add_a_user_by_email(staff_client, db):
    response = staff_client.post(
        _url(User, "add"),
        {"email": "new@acme.test", "usable_password": "true", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new@acme.test")
    assert user.check_password(PASSWORD)


def test_people_who_are_not_staff_cannot_use_the_admin(auditor_client, world):
    response = auditor_client.get(_url(Event, "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
