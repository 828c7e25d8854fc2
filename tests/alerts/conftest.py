from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from alerts.models import AlertRuleSetting, NotificationContact
from audit.services import Actor, build_event, record_many
from iam.models import Organization


def activate(organization: Organization, *names: str, region: str = "fr-par") -> None:
    for name in names:
        AlertRuleSetting.objects.update_or_create(
            organization=organization, region=region, rule_name=name, defaults={"enabled": True}
        )


def forbidden_events(
    organization: Organization,
    count: int,
    *,
    start: datetime | None = None,
    spacing: timedelta = timedelta(seconds=5),
    region: str = "fr-par",
    method_name: str = "GetSecret",
) -> list:
    """Record `count` refused requests, `spacing` apart from `start`, in one batch."""
    start = start or timezone.now() - timedelta(hours=1)
    actor = Actor(principal_type="anonymous", source_ip="203.0.113.7", user_agent="curl/8")
    events = [
        build_event(
            organization_id=organization.pk,
            actor=actor,
            product_name="secret-manager",
            service_name="scaleway.secret_manager.v1beta1.Api",
            method_name=method_name,
            locality=region,
            status_code=403,
            recorded_at=start + i * spacing,
        )
        for i in range(count)
    ]
    record_many(events)
    return events


@pytest.fixture
def security_contact(acme):
    return NotificationContact.objects.create(organization=acme, email="sec@acme.test", security=True)


@pytest.fixture
def billing_contact(acme):
    return NotificationContact.objects.create(organization=acme, email="billing@acme.test", billing=True)
