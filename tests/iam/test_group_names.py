"""A group's name is unique in its organization, whatever the case: the form, the service and the
database each refuse a second "Administrators"."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.models import Group
from tests.factories import GroupFactory, OrganizationFactory

rename_duplicate_groups = importlib.import_module(
    "iam.migrations.0005_group_unique_name"
).rename_duplicate_groups


@pytest.mark.django_db
def test_creating_a_second_group_of_the_same_name_is_a_form_error(owner_client, acme):
    assert owner_client.post("/iam/groups/create/", {"name": "Developers"}).status_code == 302
    response = owner_client.post("/iam/groups/create/", {"name": "developers", "description": "again"})
    assert response.status_code == 200
    assert "A group named “developers” already exists in the organization." in response.content.decode()
    assert Group.objects.filter(organization=acme).count() == 1
    assert Event.objects.filter(method_name="CreateGroup").count() == 1


@pytest.mark.django_db
def test_the_same_name_in_another_organization_is_fine(acme, owner, outsider):
    globex = outsider.owned_organizations.get()
    services.group_create(actor=Actor.of(owner), organization=acme, name="Ops")
    services.group_create(actor=Actor.of(outsider), organization=globex, name="Ops")
    assert Group.objects.filter(name="Ops").count() == 2


@pytest.mark.django_db
def test_the_service_refuses_a_duplicate_name(acme, owner):
    services.group_create(actor=Actor.of(owner), organization=acme, name="Ops")
    with pytest.raises(services.IamError, match="already exists"):
        services.group_create(actor=Actor.of(owner), organization=acme, name="OPS")


@pytest.mark.django_db
def test_the_database_refuses_a_duplicate_name_and_the_model_says_why(acme):
    GroupFactory(organization=acme, name="Ops")
    with pytest.raises(ValidationError, match="already exists"):
        Group(organization=acme, name="oPs").full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Group.objects.create(organization=acme, name="OPS")


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_existing_duplicates_before_adding_the_constraint():
    acme, globex = OrganizationFactory(name="Acme"), OrganizationFactory(name="Globex")
    constraint = next(
        c for c in Group._meta.constraints if c.name == "iam_group_unique_name_per_organization"
    )
    with connection.schema_editor() as editor:
        editor.remove_constraint(Group, constraint)
    try:
        start = timezone.now() - timedelta(days=1)
        first = GroupFactory(organization=acme, name="Ops", created_at=start)
        second = GroupFactory(organization=acme, name="ops", created_at=start + timedelta(minutes=1))
        third = GroupFactory(organization=acme, name="OPS", created_at=start + timedelta(minutes=2))
        taken = GroupFactory(organization=acme, name="Ops (2)", created_at=start + timedelta(minutes=3))
        elsewhere = GroupFactory(organization=globex, name="Ops", created_at=start + timedelta(minutes=4))
        rename_duplicate_groups(apps, None)
    finally:
        with connection.schema_editor() as editor:
            editor.add_constraint(Group, constraint)
    names = {g.pk: g.name for g in Group.objects.all()}
    # The oldest keeps its name, and so does any name that was unique; the others get a free suffix.
    assert (names[first.pk], names[taken.pk], names[elsewhere.pk]) == ("Ops", "Ops (2)", "Ops")
    assert (names[second.pk], names[third.pk]) == ("ops (3)", "OPS (4)")
