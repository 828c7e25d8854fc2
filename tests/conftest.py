"""Personas and shared fixtures.

Acme has an owner, an auditor (AuditTrailReadOnly), an IAM manager, a member without rights and
a removed member. The outsider owns another organization.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import Client
from django.utils import timezone

from tests.factories import (
    PASSWORD,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
    grant,
)

# Playwright's sync API runs an event loop in the main thread; without this, pytest-django's
# test-database set-up and flush raise SynchronousOnlyOperation.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _flush_past_the_truncate_guard(self, style, tables, **kwargs):
    """Transactional tests end with Django's flush, a TRUNCATE, which the append-only tables
    refuse (migration 0004). Tests only: flush as a replica, whose session fires no triggers."""
    statements = _sql_flush(self, style, tables, **kwargs)
    return ["SET LOCAL session_replication_role = replica", *statements] if statements else statements


_sql_flush = DatabaseOperations.sql_flush
DatabaseOperations.sql_flush = _flush_past_the_truncate_guard

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
HX_HEADERS = {"HX-Request": "true"}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
        ],
    }


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@acme.test", first_name="Olivia", last_name="Owner")


@pytest.fixture
def acme(owner):
    return OrganizationFactory(name="Acme", owner=owner)


@pytest.fixture
def project(acme):
    return ProjectFactory(organization=acme, name="web-shop")


@pytest.fixture
def other_project(acme):
    return ProjectFactory(organization=acme, name="data-lake")


def _member(organization, email: str, *permission_sets: str):
    user = UserFactory(email=email)
    MembershipFactory(organization=organization, user=user)
    if permission_sets:
        grant(user, organization, *permission_sets)
    return user


@pytest.fixture
def auditor(acme):
    return _member(acme, "auditor@acme.test", "AuditTrailReadOnly")


@pytest.fixture
def iam_manager(acme):
    return _member(acme, "iam-manager@acme.test", "IAMManager")


@pytest.fixture
def member_without_rights(acme):
    return _member(acme, "member@acme.test")


@pytest.fixture
def removed_member(acme):
    user = UserFactory(email="former@acme.test")
    MembershipFactory(organization=acme, user=user, removed_at=timezone.now())
    return user


@pytest.fixture
def outsider(db):
    user = UserFactory(email="outsider@globex.test")
    OrganizationFactory(name="Globex", owner=user)
    return user


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner, acme):
    return _client_for(owner)


@pytest.fixture
def auditor_client(auditor):
    return _client_for(auditor)


@pytest.fixture
def member_client(member_without_rights):
    return _client_for(member_without_rights)


@pytest.fixture
def outsider_client(outsider):
    return _client_for(outsider)
