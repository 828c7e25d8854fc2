"""Every write staff make in the Django admin to IAM and alerting objects is in the trail, with
the staff user as principal: the models are taken from the admin's own registry, so a model
registered tomorrow is covered (or this test fails) without anyone editing a list."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.forms import (
    BooleanField,
    CharField,
    EmailField,
    ModelMultipleChoiceField,
    MultipleChoiceField,
    SplitDateTimeField,
)
from django.test import Client
from django.urls import reverse

from audit.models import Event
from audit.services import Actor
from iam.admin import TrailedAdmin, TrailedInline
from iam.models import APIKey, Application, Group, Membership, Organization, Policy, Project, Rule, User
from iam.services import api_key_create
from tests.factories import PASSWORD, ApplicationFactory, GroupFactory, UserFactory, grant

TRAILED_APPS = ("iam", "alerts")
UA = "Mozilla/5.0 (staff browser)"


def _registered():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in TRAILED_APPS
    ]


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def staff(db) -> User:
    return UserFactory(email="staff@audit-trail.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client(HTTP_USER_AGENT=UA)
    client.force_login(staff)
    return client


@pytest.fixture
def world(acme, project, auditor, removed_member, owner):
    application = ApplicationFactory(organization=acme, name="terraform-ci")
    group = GroupFactory(organization=acme, name="Developers")
    policy = grant(application, acme, "AuditTrailReadOnly")
    key, _ = api_key_create(
        actor=Actor.of(owner), organization=acme, application=application, description="ci"
    )
    return {
        Organization: acme,
        Project: project,
        User: auditor,
        Membership: Membership.objects.get(user=removed_member),
        Application: application,
        Group: group,
        Policy: policy,
        APIKey: key,
    }


def _admin_events(organization, staff):
    return Event.objects.filter(organization_id=organization.pk, principal_id=staff.pk).order_by(
        "recorded_at", "id"
    )


def _only_event(organization, staff) -> Event:
    (event,) = _admin_events(organization, staff)
    return event


def test_every_iam_and_alerts_admin_records_its_writes():
    registered = _registered()
    assert {model for model, _ in registered} >= {Organization, User, APIKey, Policy}
    for model, model_admin in registered:
        assert isinstance(model_admin, TrailedAdmin), f"{model.__name__}'s admin writes without a trace"
        for inline in model_admin.inlines:
            # An inline either records its own rows or is folded into the parent's Update event.
            assert issubclass(inline, TrailedInline) or inline.model is Rule, inline


# --- a change and a delete of every registered model, through the real admin views -------------


def _form_data(response) -> dict:
    """What the change page would post back unchanged: its form, inlines and management forms."""
    data: dict = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    for form in forms:
        for field in form:
            if field.field.disabled:
                continue
            value, kind = field.value(), field.field
            if isinstance(kind, SplitDateTimeField):
                parts = kind.widget.decompress(value) if not isinstance(value, list) else value
                for i, part in enumerate(parts):
                    data[f"{field.html_name}_{i}"] = "" if part is None else str(part)
            elif isinstance(kind, ModelMultipleChoiceField | MultipleChoiceField):
                data[field.html_name] = [str(v) for v in value or []]
            elif isinstance(kind, BooleanField):
                if value:
                    data[field.html_name] = "on"
            else:
                value = kind.prepare_value(value)
                data[field.html_name] = "" if value is None else str(value)
    return data


def _change_one_field(response, data: dict) -> str:
    """Change the first text, e-mail or date field of the main form; returns its name."""
    form = response.context["adminform"].form
    for field in form:
        if field.field.disabled:
            continue
        if isinstance(field.field, EmailField):
            data[field.html_name] = "changed-" + str(field.value())
        elif isinstance(field.field, SplitDateTimeField):
            data[f"{field.html_name}_0"], data[f"{field.html_name}_1"] = "2099-01-02", "03:04:05"
        elif isinstance(field.field, CharField):
            data[field.html_name] = f"{field.value() or ''}-changed"
        else:
            continue
        return field.name
    raise AssertionError(f"nothing to change on {form}")


@pytest.mark.django_db
@pytest.mark.parametrize("model", [m for m, _ in _registered()], ids=lambda m: m.__name__)
def test_a_change_in_the_admin_is_recorded_with_the_staff_user_and_the_changed_field(
    staff_client, staff, world, acme, model
):
    obj = world[model]
    page = staff_client.get(_url(model, "change", obj.pk))
    data = _form_data(page)
    changed = _change_one_field(page, data)

    response = staff_client.post(_url(model, "change", obj.pk), data)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    event = _only_event(acme, staff)
    assert event.method_name.startswith("Update")
    assert changed in event.request_body
    assert (event.principal_type, event.principal_name) == ("user", staff.email)
    assert (event.source_ip, event.user_agent) == ("127.0.0.1", UA)
    assert event.request_id == response["X-Request-Id"]
    assert event.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("model", [m for m, _ in _registered()], ids=lambda m: m.__name__)
def test_a_delete_in_the_admin_is_recorded_with_the_staff_user(staff_client, staff, world, acme, model):
    obj = world[model]
    response = staff_client.post(_url(model, "delete", obj.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not model.objects.filter(pk=obj.pk).exists()
    event = _admin_events(acme, staff).get(method_name__startswith="Delete")
    assert event.principal_id == staff.pk
    assert event.request_id == response["X-Request-Id"]


# --- the cases the issue names, and the shapes of what is recorded --------------------------------


@pytest.mark.django_db
def test_setting_an_api_keys_expiry_in_the_admin_records_update_api_key(staff_client, staff, world, acme):
    key = world[APIKey]
    page = staff_client.get(_url(APIKey, "change", key.pk))
    data = _form_data(page) | {"expires_at_0": "2099-12-31", "expires_at_1": "23:59:00"}

    assert staff_client.post(_url(APIKey, "change", key.pk), data).status_code == 302

    event = _only_event(acme, staff)
    assert event.method_name == "UpdateAPIKey"
    assert event.resources[0]["id"] == key.access_key
    assert event.request_body == {"access_key": key.access_key, "expires_at": "2099-12-31T23:59:00+00:00"}


@pytest.mark.django_db
def test_a_bulk_delete_records_one_event_per_object(staff_client, staff, acme, owner):
    keys = [api_key_create(actor=Actor.of(owner), organization=acme, user=owner)[0] for _ in range(3)]
    response = staff_client.post(
        _url(APIKey, "changelist"),
        {"action": "delete_selected", "_selected_action": [k.pk for k in keys], "post": "yes"},
    )
    assert response.status_code == 302
    assert not APIKey.objects.exists()
    deleted = _admin_events(acme, staff).filter(method_name="DeleteAPIKey")
    assert sorted(e.request_body["access_key"] for e in deleted) == sorted(k.access_key for k in keys)


@pytest.mark.django_db
def test_rules_edited_inline_are_part_of_the_policys_update(staff_client, staff, world, acme):
    policy = world[Policy]
    page = staff_client.get(_url(Policy, "change", policy.pk))
    data = _form_data(page) | {"rules-0-permission_set_names": '["AuditTrailFullAccess"]'}

    assert staff_client.post(_url(Policy, "change", policy.pk), data).status_code == 302

    event = _only_event(acme, staff)
    assert event.method_name == "UpdatePolicy"
    (changed,) = event.request_body["rules"]["changed"]
    assert changed["permission_set_names"] == ["AuditTrailFullAccess"]


@pytest.mark.django_db
def test_group_members_changed_in_the_admin_are_recorded(staff_client, staff, world, acme, auditor):
    group = world[Group]
    page = staff_client.get(_url(Group, "change", group.pk))
    data = _form_data(page) | {"users": [str(auditor.pk)]}

    assert staff_client.post(_url(Group, "change", group.pk), data).status_code == 302

    event = _only_event(acme, staff)
    assert (event.method_name, event.request_body["users"]) == ("UpdateGroup", [str(auditor.pk)])


@pytest.mark.django_db
def test_a_project_added_inline_on_its_organization_records_create_project(staff_client, staff, world, acme):
    page = staff_client.get(_url(Organization, "change", acme.pk))
    data = _form_data(page)
    total = int(data["projects-TOTAL_FORMS"])
    data |= {"projects-TOTAL_FORMS": str(total + 1), f"projects-{total}-name": "new-shop"}

    response = staff_client.post(_url(Organization, "change", acme.pk), data)

    assert response.status_code == 302
    event = _only_event(acme, staff)
    project = Project.objects.get(name="new-shop")
    assert (event.method_name, event.resources[0]["id"]) == ("CreateProject", str(project.pk))


@pytest.mark.django_db
def test_a_user_is_recorded_in_each_organization_they_belong_to(staff_client, staff, auditor, acme, outsider):
    globex = outsider.owned_organizations.get()
    Membership.objects.create(organization=globex, user=auditor)
    page = staff_client.get(_url(User, "change", auditor.pk))
    data = _form_data(page) | {"first_name": "Audrey"}

    assert staff_client.post(_url(User, "change", auditor.pk), data).status_code == 302

    for organization in (acme, globex):
        event = _only_event(organization, staff)
        assert (event.method_name, event.request_body) == (
            "UpdateUser",
            {"user_id": str(auditor.pk), "first_name": "Audrey"},
        )


@pytest.mark.django_db
def test_a_user_in_no_organization_is_recorded_in_the_staff_users(staff_client, staff, acme):
    Membership.objects.create(organization=acme, user=staff)
    response = staff_client.post(
        _url(User, "add"),
        {"email": "new@example.org", "usable_password": "true", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    event = _admin_events(acme, staff).get(method_name="CreateUser")
    assert event.request_body["email"] == "new@example.org"
    assert event.request_body["password1"] == "REDACTED"
    assert PASSWORD not in str(event.request_body)


@pytest.mark.django_db
def test_setting_a_password_in_the_admin_is_recorded_without_the_password(staff_client, staff, auditor, acme):
    response = staff_client.post(
        reverse("admin:auth_user_password_change", args=[auditor.pk]),
        {"usable_password": "true", "password1": "n3w-Pa55word!x", "password2": "n3w-Pa55word!x"},
    )
    assert response.status_code == 302
    event = _only_event(acme, staff)
    assert event.method_name == "UpdateUserPassword"
    assert event.request_body == {"user_id": str(auditor.pk), "password": "REDACTED"}


@pytest.mark.django_db
def test_saving_without_a_change_records_nothing(staff_client, staff, world, acme):
    application = world[Application]
    page = staff_client.get(_url(Application, "change", application.pk))
    assert staff_client.post(_url(Application, "change", application.pk), _form_data(page)).status_code == 302
    assert not _admin_events(acme, staff).exists()
