"""Events for the Events page tests, recorded through the one door in (`record_many`)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from audit.services import Actor, build_event, record_many
from tests.factories import ApplicationFactory

HX_RESULTS = {"HX-Request": "true", "HX-Target": "results"}
HX_DRAWER = {"HX-Request": "true", "HX-Target": "drawer"}
HX_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}

SECRET = {
    "product_name": "secret-manager",
    "service_name": "scaleway.secret_manager.v1beta1.Api",
    "method_name": "CreateSecret",
    "locality": "fr-par",
}
API_KEY = {
    "product_name": "iam",
    "service_name": "scaleway.iam.v1alpha1.Api",
    "method_name": "CreateAPIKey",
    "locality": "global",
}


def actor_for(user, ip="212.133.41.37") -> Actor:
    return Actor(
        principal_type="user",
        principal_id=user.pk,
        principal_name=user.email,
        source_ip=ip,
        user_agent="scaleway-sdk-go/v1.0.0-beta.7 (go1.25.3; linux; amd64) terraform-provider/develop",
        request_id=str(uuid.uuid4()),
    )


def make_events(organization, n, *, actor, minutes_ago=10, spacing=timedelta(seconds=7), **fields):
    """`n` events by `actor`, newest `minutes_ago` minutes ago, `spacing` apart, one request each."""
    start = timezone.now() - timedelta(minutes=minutes_ago)
    body = fields.pop("request_body", None)
    resources = fields.pop("resources", None)
    merged = SECRET | fields
    return [
        build_event(
            organization_id=organization.pk,
            actor=replace(actor, request_id=str(uuid.uuid4())),
            recorded_at=start - i * spacing,
            request_body=body
            if body is not None
            else {"name": f"db-password-{i}", "path": "/", "protected": False},
            resources=resources
            if resources is not None
            else [{"id": str(uuid.uuid4()), "type": "secret_manager_secret", "name": f"db-password-{i}"}],
            **merged,
        )
        for i in range(n)
    ]


@pytest.fixture
def application(acme):
    return ApplicationFactory(organization=acme, name="terraform-ci")


@pytest.fixture
def acme_events(acme, owner, auditor, removed_member, application, project, other_project):
    """A representative mix in fr-par: a resolvable user, an application, a removed member, the
    platform, 403s, two projects; plus a few nl-ams events."""
    app_actor = Actor(
        principal_type="application", principal_id=application.pk, principal_name="terraform-ci"
    )
    events = [
        *make_events(acme, 6, actor=actor_for(owner), minutes_ago=5, project_id=project.pk),
        *make_events(acme, 3, actor=app_actor, minutes_ago=12, project_id=other_project.pk),
        *make_events(
            acme,
            2,
            actor=actor_for(removed_member, ip="5.6.7.8"),
            minutes_ago=20,
            status_code=403,
            **API_KEY,
            resources=[],
            request_body={"application_id": str(application.pk)},
        ),
        *make_events(
            acme,
            2,
            actor=Actor.system(),
            minutes_ago=30,
            method_name="CreateGroup",
            product_name="iam",
            service_name="scaleway.iam.v1alpha1.Api",
            locality="global",
            resources=[{"id": str(uuid.uuid4()), "type": "iam_group", "name": "Administrators"}],
        ),
        *make_events(
            acme,
            2,
            actor=actor_for(auditor),
            minutes_ago=40,
            locality="nl-ams",
            method_name="DeleteSecret",
            project_id=project.pk,
        ),
    ]
    record_many(events)
    return Event.objects.filter(organization_id=acme.pk)


@pytest.fixture
def globex_event(outsider):
    from iam.models import Organization

    globex = Organization.objects.get(name="Globex")
    [event] = make_events(globex, 1, actor=actor_for(outsider))
    record_many([event])
    return event
