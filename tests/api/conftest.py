"""API fixtures: keys minted by the real service, and events recorded through the real door."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.services import Actor, build_event, record_many
from iam.services import api_key_create
from tests.factories import ApplicationFactory, grant

SECRET_MANAGER = ("secret-manager", "scaleway.secret_manager.v1beta1.Api")


def api_key_for(principal, organization):
    """(access key, secret key) for a user or an application, created by the platform."""
    kwargs = {"application": principal} if hasattr(principal, "organization_id") else {"user": principal}
    key, secret = api_key_create(actor=Actor.system(), organization=organization, **kwargs)
    return key.access_key, secret


@pytest.fixture
def auditor_key(auditor, acme):
    return api_key_for(auditor, acme)


@pytest.fixture
def owner_key(owner, acme):
    return api_key_for(owner, acme)


@pytest.fixture
def member_key(member_without_rights, acme):
    return api_key_for(member_without_rights, acme)


@pytest.fixture
def writer(acme):
    application = ApplicationFactory(organization=acme, name="log-shipper")
    grant(application, acme, "AuditTrailEventsWriter")
    return application


@pytest.fixture
def writer_key(writer, acme):
    return api_key_for(writer, acme)


class ApiClient(Client):
    """Django's test client speaking like the SDK: X-Auth-Token, and a `{}` body on GET/DELETE."""

    def __init__(self, secret: str, **kwargs):
        super().__init__(HTTP_X_AUTH_TOKEN=secret, HTTP_USER_AGENT="scaleway-sdk-python/2.12.0", **kwargs)

    def get(self, path, data=None, **extra):
        return self.generic("GET", path, b"{}", **{"QUERY_STRING": _qs(data), **extra})

    def delete(self, path, data=None, **extra):
        return self.generic("DELETE", path, b"{}", **{"QUERY_STRING": _qs(data), **extra})


def _qs(data) -> str:
    from urllib.parse import urlencode

    return urlencode(data or {}, doseq=True)


@pytest.fixture
def auditor_api(auditor_key):
    return ApiClient(auditor_key[1])


@pytest.fixture
def owner_api(owner_key):
    return ApiClient(owner_key[1])


@pytest.fixture
def writer_api(writer_key):
    return ApiClient(writer_key[1])


def make_events(organization, n, *, start=None, step=timedelta(seconds=1), **overrides):
    """n events recorded through `record_many`, oldest first, spaced by `step`."""
    start = start or timezone.now() - timedelta(minutes=50)
    product, service = SECRET_MANAGER
    fields = {
        "product_name": product,
        "service_name": service,
        "method_name": "CreateSecret",
        "locality": "fr-par",
    } | overrides
    actor = fields.pop("actor", None) or Actor(
        principal_type="user",
        principal_id=uuid.uuid4(),
        principal_name="x@acme.test",
        source_ip="198.51.100.7",
    )
    events = [
        build_event(organization_id=organization.pk, actor=actor, recorded_at=start + i * step, **fields)
        for i in range(n)
    ]
    record_many(events)
    return events


def wire_event(organization, **overrides):
    """One valid ingestion event in the wire shape."""
    from core.ids import uuid7

    at = timezone.now() - timedelta(minutes=1)
    return {
        "id": str(uuid7(at)),
        "recorded_at": at.isoformat(),
        "locality": "fr-par",
        "principal": {"id": str(uuid.uuid4())},
        "organization_id": str(organization.pk),
        "source_ip": "203.0.113.9",
        "user_agent": "shipper/1.0",
        "product_name": "secret-manager",
        "service_name": "scaleway.secret_manager.v1beta1.Api",
        "method_name": "CreateSecret",
        "resources": [{"id": str(uuid.uuid4()), "type": "secret_manager_secret", "name": "db-pass"}],
        "request_id": str(uuid.uuid4()),
        "request_body": {"name": "db-pass", "secret_key": "hunter2"},
        "status_code": 200,
    } | overrides
