"""Reads of alerting. Every one is scoped by an organization (and a region where rules live)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from alerts.evaluation import Match, sweep
from alerts.models import Alert, AlertRuleSetting, CustomAlertRule, NotificationContact
from alerts.rules import PRECONFIGURED, CelRule, PreconfiguredRule, event_rows
from audit.models import Event
from iam.models import Organization

BACKTEST_DAYS = 30
# The backtest runs CEL on at most this many events (the most recent ones) to answer fast.
BACKTEST_MAX_EVENTS = 30_000
# ... and for at most this many seconds: a costly expression tests fewer events, not the request's
# patience (the cost bound of compile_expression keeps one event to a few milliseconds).
BACKTEST_SECONDS = 5.0


@dataclass(frozen=True)
class RuleState:
    rule: PreconfiguredRule
    active: bool


def alert_rule_states(*, organization: Organization, region: str) -> list[RuleState]:
    """The five preconfigured rules with whether each is active in `region`. One query."""
    enabled = set(
        AlertRuleSetting.objects.filter(organization=organization, region=region, enabled=True).values_list(
            "rule_name", flat=True
        )
    )
    return [RuleState(rule, rule.name in enabled) for rule in PRECONFIGURED]


def active_alert_rule_counts(*, organization: Organization) -> dict[str, int]:
    """How many rules (preconfigured and custom) are active in each region that has any. Two
    queries; the Alerting Management tab asks only when the region it shows has none."""
    counts: dict[str, int] = {}
    for model in (AlertRuleSetting, CustomAlertRule):
        for region in model.objects.filter(organization=organization, enabled=True).values_list(
            "region", flat=True
        ):
            counts[region] = counts.get(region, 0) + 1
    return counts


def custom_alert_rule_list(*, organization: Organization, region: str) -> QuerySet[CustomAlertRule]:
    return CustomAlertRule.objects.filter(organization=organization, region=region).order_by("name", "id")


def custom_alert_rule_get(*, organization: Organization, rule_id: uuid.UUID | str) -> CustomAlertRule | None:
    return CustomAlertRule.objects.filter(organization=organization, pk=rule_id).first()


def alert_list(*, organization: Organization, region: str) -> QuerySet[Alert]:
    """Fired alerts, newest first (index alerts_alert_list_idx)."""
    return (
        Alert.objects.filter(organization=organization, region=region)
        .select_related("custom_rule")
        .order_by("-fired_at", "-id")
    )


def notification_contact_list(*, organization: Organization) -> QuerySet[NotificationContact]:
    return NotificationContact.objects.filter(organization=organization).order_by("email")


def notification_contact_get(
    *, organization: Organization, contact_id: uuid.UUID | str
) -> NotificationContact | None:
    return NotificationContact.objects.filter(organization=organization, pk=contact_id).first()


@dataclass(frozen=True)
class Backtest:
    fired: int
    matched: int
    evaluated: int
    capped: bool
    since: datetime
    seconds: float


def custom_rule_backtest(
    *, organization: Organization, region: str, rule: CelRule, now: datetime | None = None
) -> Backtest:
    """How many times `rule` would have fired over the last 30 days of the region's events.

    Runs the same sweep as evaluation. Costs one streamed query (server-side cursor on
    PostgreSQL) over the organization's events in the region, newest first, and CEL on at most
    BACKTEST_MAX_EVENTS of them, for BACKTEST_SECONDS at most; `capped` says when older events
    were left out.
    """
    started = time.monotonic()
    now = now or timezone.now()
    since = now - timedelta(days=BACKTEST_DAYS)
    qs = Event.objects.filter(
        organization_id=organization.pk, region=region, recorded_at__gte=since, recorded_at__lte=now
    ).order_by("-recorded_at", "-id")
    evaluated = 0
    capped = False
    matches: list[Match] = []
    for row in event_rows(qs, rule.columns).iterator(chunk_size=2000):
        if evaluated >= BACKTEST_MAX_EVENTS or time.monotonic() - started > BACKTEST_SECONDS:
            capped = True
            break
        evaluated += 1
        if rule.matches(row):
            matches.append(Match(row["recorded_at"], row["id"]))
    matches.reverse()
    firings = sweep(matches, occurrences=rule.occurrences, window=rule.window, cooldown=rule.cooldown)
    return Backtest(
        fired=len(firings),
        matched=len(matches),
        evaluated=evaluated,
        capped=capped,
        since=since,
        seconds=time.monotonic() - started,
    )
