"""Demo data for alerting, called by the seed command: active rules, a contact, fired alerts."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from alerts.models import Alert, CustomAlertRule, NotificationContact
from alerts.rules import PRECONFIGURED_BY_NAME
from alerts.services import (
    alert_rule_enable,
    alerts_evaluate,
    custom_alert_rule_create,
    notification_contact_create,
)
from audit.models import Event, PrincipalType
from audit.services import Actor, build_event, record_many
from iam.models import Organization

DEMO_REGION = "fr-par"
DEMO_RULES = ("ApiKeyCreated", "ApiKeyCreationUnauthorized", "ApiKeyDeleted", "HttpForbiddenErrorRateHigh")
DEMO_LOOKBACK = timedelta(days=7)


def _probe_burst(organization: Organization, *, at: datetime) -> None:
    """A misconfigured client hammering Secret Manager without permission: 24 refusals in 2 minutes."""
    actor = Actor(
        principal_type=PrincipalType.ANONYMOUS,
        source_ip="198.51.100.23",
        user_agent="python-requests/2.32.3",
        request_id=str(uuid.uuid4()),
    )
    record_many(
        build_event(
            organization_id=organization.pk,
            actor=actor,
            product_name="secret-manager",
            service_name="scaleway.secret_manager.v1beta1.Api",
            method_name="CreateSecretVersion",
            locality=DEMO_REGION,
            status_code=403,
            recorded_at=at + timedelta(seconds=5 * i),
        )
        for i in range(24)
    )


def seed_alerts(organization: Organization, *, now: datetime | None = None) -> list[Alert]:
    """Turn alerting on for `organization` in fr-par and fire alerts on its recent events.

    Activates four preconfigured rules and one custom rule, subscribes the owner to Security
    notifications, records a burst of refused requests two hours ago, then evaluates the last
    7 days of events (evaluation is idempotent, so seeding twice fires nothing new). Returns the
    organization's alerts in fr-par.
    """
    now = now or timezone.now()
    owner = organization.owner
    # The owner set this up in the console: give the events the fingerprint a browser would leave.
    actor = replace(
        Actor.of(owner),
        source_ip="81.250.12.34",
        user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15",
        request_id=str(uuid.uuid4()),
    )
    alert_rule_enable(
        actor=actor,
        organization=organization,
        region=DEMO_REGION,
        alert_rule_ids=[PRECONFIGURED_BY_NAME[name].id for name in DEMO_RULES],
    )
    if not NotificationContact.objects.filter(organization=organization).exists():
        notification_contact_create(
            actor=actor, organization=organization, email=owner.email, types=["security", "technical"]
        )
    if not CustomAlertRule.objects.filter(organization=organization, region=DEMO_REGION).exists():
        custom_alert_rule_create(
            actor=actor,
            organization=organization,
            region=DEMO_REGION,
            name="Secret deleted",
            description="Someone deleted a secret in Secret Manager.",
            query='method_name == "DeleteSecret" && status_code == 200',
            severity="warning",
        )
    if not Alert.objects.filter(organization=organization, rule_key="HttpForbiddenErrorRateHigh").exists():
        _probe_burst(organization, at=now - timedelta(hours=2))
    recent = Event.objects.filter(
        organization_id=organization.pk, region=DEMO_REGION, recorded_at__gte=now - DEMO_LOOKBACK
    ).order_by("recorded_at", "id")
    ids = list(recent.values_list("id", flat=True))
    fired: list[Alert] = []
    for start in range(0, len(ids), 500):
        fired += alerts_evaluate(
            organization_id=organization.pk, region=DEMO_REGION, event_ids=ids[start : start + 500]
        )
    # The seed evaluates a week of events at once; a running worker would have fired each alert
    # when its triggering event came in, not all of them at seeding time.
    Alert.objects.filter(pk__in=[alert.pk for alert in fired]).update(fired_at=F("window_end"))
    return list(Alert.objects.filter(organization=organization, region=DEMO_REGION))
