from __future__ import annotations

import pytest
from django.test import Client

from audit.services import Actor
from iam import services
from tests.factories import ApplicationFactory, GroupFactory, ProjectFactory


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def iam_manager_client(iam_manager):
    return client_for(iam_manager)


@pytest.fixture
def app(acme):
    return ApplicationFactory(organization=acme, name="billing-bot")


@pytest.fixture
def group(acme):
    return GroupFactory(organization=acme, name="Developers")


@pytest.fixture
def owner_actor(owner):
    return Actor.of(owner)


@pytest.fixture
def owner_key(acme, owner, owner_actor):
    key, _secret = services.api_key_create(actor=owner_actor, organization=acme, user=owner, description="ci")
    return key


@pytest.fixture
def globex_project(outsider):
    return ProjectFactory(organization=outsider.owned_organizations.get(), name="globex-web")
