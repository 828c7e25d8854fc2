"""Writes of alerting: rule settings, custom rules, firings (evaluation) and notification contacts.

Every change a person makes records its audit event in the same transaction, under the method
name the Scaleway API uses for it (product `audit-trail`, or `account` for contacts), so the
console and a later API call the same services and leave the same trail.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.evaluation import Firing, Match, sweep
from alerts.models import Alert, AlertRuleSetting, CustomAlertRule, NotificationContact
from alerts.rules import (
    PRECONFIGURED,
    PRECONFIGURED_BY_ID,
    CelRule,
    PreconfiguredRule,
    Rule,
    Severity,
    check_rule_name,
    compile_expression,
    event_rows,
)
from audit.models import Event
from audit.services import Actor, record
from iam.models import Organization

logger = logging.getLogger(__name__)

AUDIT_TRAIL_PRODUCT = "audit-trail"
AUDIT_TRAIL_SERVICE = "scaleway.audit_trail.v1alpha1.Api"
CONTACT_PRODUCT = "account"
CONTACT_SERVICE = "scaleway.account.v3.ContactApi"
# Bounds on one evaluation: a threshold rule looks at most this many matches around new events,
# and a custom rule runs CEL on at most this many events.
MAX_MATCHES = 100_000
MAX_CEL_EVENTS = 50_000


def _record_audit_trail(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    method_name: str,
    resources: list[dict[str, Any]],
    request_body: dict[str, Any],
) -> None:
    record(
        organization_id=organization.pk,
        actor=actor,
        product_name=AUDIT_TRAIL_PRODUCT,
        service_name=AUDIT_TRAIL_SERVICE,
        method_name=method_name,
        locality=region,
        resources=resources,
        request_body={"organization_id": str(organization.pk), **request_body},
    )


def alert_rule_resource(rule: PreconfiguredRule) -> dict[str, Any]:
    return {"id": str(rule.id), "type": "audit_trail_alert_rule", "name": rule.name}


def custom_rule_resource(rule: CustomAlertRule) -> dict[str, Any]:
    return {"id": str(rule.pk), "type": "audit_trail_custom_alert_rule", "name": rule.name}


# --- preconfigured rules ---------------------------------------------------------------------------


def _rules_from_ids(alert_rule_ids: Iterable[str | uuid.UUID]) -> list[PreconfiguredRule]:
    rules = []
    for rule_id in alert_rule_ids:
        rule = PRECONFIGURED_BY_ID.get(str(rule_id))
        if rule is None:
            raise ValueError(f"Unknown alert rule id {rule_id}.")
        rules.append(rule)
    return rules


def _apply_enabled(
    *, organization: Organization, region: str, enabled: dict[str, bool]
) -> list[PreconfiguredRule]:
    """Store `enabled` (rule name -> active); return the rules whose state changed."""
    current = dict(
        AlertRuleSetting.objects.filter(organization=organization, region=region).values_list(
            "rule_name", "enabled"
        )
    )
    changed = [
        rule
        for rule in PRECONFIGURED
        if rule.name in enabled and current.get(rule.name, False) != enabled[rule.name]
    ]
    now = timezone.now()
    for rule in changed:
        AlertRuleSetting.objects.update_or_create(
            organization=organization,
            region=region,
            rule_name=rule.name,
            defaults={"enabled": enabled[rule.name], "updated_at": now},
        )
    return changed


@transaction.atomic
def alert_rule_set_enabled(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    enabled_alert_rule_ids: Iterable[str | uuid.UUID],
) -> list[tuple[PreconfiguredRule, bool]]:
    """Make exactly these preconfigured rules active in `region` (SetEnabledAlertRules).

    Rules not listed become inactive. Raises ValueError on an unknown id. Records one event naming
    the rules whose state changed. Returns every rule with its new state.
    """
    wanted = {rule.name for rule in _rules_from_ids(enabled_alert_rule_ids)}
    enabled = {rule.name: rule.name in wanted for rule in PRECONFIGURED}
    changed = _apply_enabled(organization=organization, region=region, enabled=enabled)
    _record_audit_trail(
        actor=actor,
        organization=organization,
        region=region,
        method_name="SetEnabledAlertRules",
        resources=[alert_rule_resource(rule) for rule in changed],
        request_body={"enabled_alert_rule_ids": [str(r.id) for r in PRECONFIGURED if r.name in wanted]},
    )
    return [(rule, enabled[rule.name]) for rule in PRECONFIGURED]


def _alert_rules_switch(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    alert_rule_ids: Iterable[str | uuid.UUID],
    active: bool,
) -> list[PreconfiguredRule]:
    rules = _rules_from_ids(alert_rule_ids)
    _apply_enabled(organization=organization, region=region, enabled={r.name: active for r in rules})
    _record_audit_trail(
        actor=actor,
        organization=organization,
        region=region,
        method_name="EnableAlertRules" if active else "DisableAlertRules",
        resources=[alert_rule_resource(rule) for rule in rules],
        request_body={"alert_rule_ids": [str(r.id) for r in rules]},
    )
    return rules


@transaction.atomic
def alert_rule_enable(
    *, actor: Actor, organization: Organization, region: str, alert_rule_ids: Iterable[str | uuid.UUID]
) -> list[PreconfiguredRule]:
    """Activate these preconfigured rules (EnableAlertRules). Returns them."""
    return _alert_rules_switch(
        actor=actor, organization=organization, region=region, alert_rule_ids=alert_rule_ids, active=True
    )


@transaction.atomic
def alert_rule_disable(
    *, actor: Actor, organization: Organization, region: str, alert_rule_ids: Iterable[str | uuid.UUID]
) -> list[PreconfiguredRule]:
    """Deactivate these preconfigured rules (DisableAlertRules). Returns them."""
    return _alert_rules_switch(
        actor=actor, organization=organization, region=region, alert_rule_ids=alert_rule_ids, active=False
    )


# --- custom rules ----------------------------------------------------------------------------------


@transaction.atomic
def custom_alert_rule_create(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    name: str,
    query: str,
    occurrences: int = 1,
    evaluation_window: timedelta = timedelta(minutes=5),
    description: str = "",
    severity: str = Severity.INFO,
    enabled: bool = True,
) -> CustomAlertRule:
    """Create a custom rule (CreateCustomAlertRule). Raises ExpressionError on a bad expression,
    RuleNameError on a bad name."""
    name = check_rule_name(name)
    compile_expression(query)
    if occurrences < 1:
        raise ValueError("Occurrences must be at least 1.")
    if evaluation_window <= timedelta(0):
        raise ValueError("The evaluation window must be longer than zero.")
    rule = CustomAlertRule.objects.create(
        organization=organization,
        region=region,
        name=name,
        description=description,
        query=query.strip(),
        occurrences=occurrences,
        evaluation_window=evaluation_window,
        severity=severity,
        enabled=enabled,
    )
    _record_audit_trail(
        actor=actor,
        organization=organization,
        region=region,
        method_name="CreateCustomAlertRule",
        resources=[custom_rule_resource(rule)],
        request_body={
            "name": name,
            "description": description,
            "query": rule.query,
            "occurrences": occurrences,
            "evaluation_window": f"{int(evaluation_window.total_seconds())}s",
            "severity": severity,
        },
    )
    return rule


@transaction.atomic
def custom_alert_rule_update(
    *, actor: Actor, rule: CustomAlertRule, name: str | None = None, description: str | None = None
) -> CustomAlertRule:
    """Rename or redescribe a custom rule (UpdateCustomAlertRule: only metadata is updatable).

    Raises RuleNameError on a bad name."""
    body: dict[str, Any] = {}
    if name is not None:
        rule.name = body["name"] = check_rule_name(name)
    if description is not None:
        rule.description = body["description"] = description
    rule.updated_at = timezone.now()
    rule.save(update_fields=["name", "description", "updated_at"])
    _record_audit_trail(
        actor=actor,
        organization=rule.organization,
        region=rule.region,
        method_name="UpdateCustomAlertRule",
        resources=[custom_rule_resource(rule)],
        request_body={"custom_alert_rule_id": str(rule.pk), **body},
    )
    return rule


@transaction.atomic
def custom_alert_rule_delete(*, actor: Actor, rule: CustomAlertRule) -> None:
    """Delete a custom rule for good (DeleteCustomAlertRule). Its past alerts stay."""
    resource = custom_rule_resource(rule)
    organization, region = rule.organization, rule.region
    rule.delete()
    _record_audit_trail(
        actor=actor,
        organization=organization,
        region=region,
        method_name="DeleteCustomAlertRule",
        resources=[resource],
        request_body={"custom_alert_rule_id": resource["id"]},
    )


def _switch_custom_rules(rules: list[CustomAlertRule], *, enabled: bool) -> None:
    """Set `enabled` on these rules in one UPDATE, and on the instances the caller returns."""
    if not rules:
        return
    now = timezone.now()
    # Enabling a rule the platform switched off is its author's answer to the reason: clear it.
    CustomAlertRule.objects.filter(pk__in=[rule.pk for rule in rules]).update(
        enabled=enabled, updated_at=now, disabled_reason=""
    )
    for rule in rules:
        rule.enabled, rule.updated_at, rule.disabled_reason = enabled, now, ""


@transaction.atomic
def custom_alert_rule_set_enabled(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    enabled_custom_alert_rule_ids: Iterable[str | uuid.UUID],
) -> list[CustomAlertRule]:
    """Make exactly these custom rules active in `region` (SetEnabledCustomAlertRules).

    Raises ValueError on an id that is not one of this organization's rules in this region.
    """
    rules = list(CustomAlertRule.objects.filter(organization=organization, region=region))
    by_id = {str(rule.pk): rule for rule in rules}
    wanted = {str(i) for i in enabled_custom_alert_rule_ids}
    if unknown := wanted - set(by_id):
        raise ValueError(f"Unknown custom alert rule id {sorted(unknown)[0]}.")
    changed = [rule for rule in rules if rule.enabled != (str(rule.pk) in wanted)]
    _switch_custom_rules([r for r in changed if str(r.pk) in wanted], enabled=True)
    _switch_custom_rules([r for r in changed if str(r.pk) not in wanted], enabled=False)
    _record_audit_trail(
        actor=actor,
        organization=organization,
        region=region,
        method_name="SetEnabledCustomAlertRules",
        resources=[custom_rule_resource(rule) for rule in changed],
        request_body={"enabled_custom_alert_rule_ids": sorted(wanted)},
    )
    return rules


def _custom_rules_switch(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    custom_alert_rule_ids: Iterable[str | uuid.UUID],
    enabled: bool,
    method_name: str,
) -> list[CustomAlertRule]:
    wanted = list(dict.fromkeys(str(i) for i in custom_alert_rule_ids))
    try:
        pks = [uuid.UUID(i) for i in wanted]
    except ValueError:
        raise ValueError("Custom alert rule ids are UUIDs.") from None
    by_id = {
        str(rule.pk): rule
        for rule in CustomAlertRule.objects.filter(organization=organization, region=region, pk__in=pks)
    }
    if unknown := [i for i in wanted if i not in by_id]:
        raise ValueError(f"Unknown custom alert rule id {unknown[0]}.")
    rules = [by_id[i] for i in wanted]
    _switch_custom_rules([rule for rule in rules if rule.enabled != enabled], enabled=enabled)
    _record_audit_trail(
        actor=actor,
        organization=organization,
        region=region,
        method_name=method_name,
        resources=[custom_rule_resource(rule) for rule in rules],
        request_body={"custom_alert_rule_ids": wanted},
    )
    return rules


@transaction.atomic
def custom_alert_rule_enable(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    custom_alert_rule_ids: Iterable[str | uuid.UUID],
) -> list[CustomAlertRule]:
    """Activate these custom rules (EnableCustomAlertRules); the others keep their state.

    Raises ValueError on an id that is not one of this organization's rules in this region.
    Records one event naming the rules. Returns them, in the order asked.
    """
    return _custom_rules_switch(
        actor=actor,
        organization=organization,
        region=region,
        custom_alert_rule_ids=custom_alert_rule_ids,
        enabled=True,
        method_name="EnableCustomAlertRules",
    )


@transaction.atomic
def custom_alert_rule_disable(
    *,
    actor: Actor,
    organization: Organization,
    region: str,
    custom_alert_rule_ids: Iterable[str | uuid.UUID],
) -> list[CustomAlertRule]:
    """Deactivate these custom rules (DisableCustomAlertRules); same contract as the enable."""
    return _custom_rules_switch(
        actor=actor,
        organization=organization,
        region=region,
        custom_alert_rule_ids=custom_alert_rule_ids,
        enabled=False,
        method_name="DisableCustomAlertRules",
    )


# --- evaluation ------------------------------------------------------------------------------------


class RuleOverBudget(Exception):
    """A custom rule spent more than its time budget on one evaluation."""


class Budget:
    """The CEL time one custom rule may spend on one evaluation (ALERT_RULE_TIME_BUDGET seconds)."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = float(getattr(settings, "ALERT_RULE_TIME_BUDGET", 2) if seconds is None else seconds)
        self.spent = 0.0
        self.events = 0

    def charge(self, started: float) -> None:
        self.spent += time.perf_counter() - started
        self.events += 1
        if self.spent > self.seconds:
            raise RuleOverBudget(
                f"Switched off by the platform: evaluating it took {self.spent:.1f} s on {self.events} "
                f"event{'s' if self.events != 1 else ''}, more than its budget of {self.seconds:g} s. "
                "Simplify the expression, then activate the rule again."
            )


def custom_alert_rule_switch_off(*, rule_id: uuid.UUID | str, reason: str) -> bool:
    """The platform switches off a custom rule it cannot afford to evaluate, saying why.

    The reason shows on the Alerting Management tab, and the trail records a
    DisableCustomAlertRules by "Scaleway". Returns whether the rule was active. Idempotent.
    """
    with transaction.atomic():
        rule = CustomAlertRule.objects.select_for_update().filter(pk=rule_id, enabled=True).first()
        if rule is None:
            return False
        rule.enabled, rule.disabled_reason, rule.updated_at = False, reason[:500], timezone.now()
        rule.save(update_fields=["enabled", "disabled_reason", "updated_at"])
        _record_audit_trail(
            actor=Actor.system(),
            organization=rule.organization,
            region=rule.region,
            method_name="DisableCustomAlertRules",
            resources=[custom_rule_resource(rule)],
            request_body={"custom_alert_rule_ids": [str(rule.pk)], "reason": rule.disabled_reason},
        )
    logger.warning("Custom alert rule %s switched off: %s", rule_id, reason)
    return True


def active_rules(*, organization_id: uuid.UUID | str, region: str) -> list[Rule]:
    """The rules that evaluate new events of this organization and region. Two queries.

    A custom rule that no longer passes the checks of a new rule (saved before a bound was added,
    say) is switched off, with the check's message as the reason.
    """
    names = AlertRuleSetting.objects.filter(
        organization_id=organization_id, region=region, enabled=True
    ).values_list("rule_name", flat=True)
    rules: list[Rule] = [rule for rule in PRECONFIGURED if rule.name in set(names)]
    for custom in CustomAlertRule.objects.filter(
        organization_id=organization_id, region=region, enabled=True
    ):
        try:
            rules.append(custom.rule)
        except ValueError as exc:
            custom_alert_rule_switch_off(
                rule_id=custom.pk,
                reason=f"Switched off by the platform: the expression is refused now. {exc}",
            )
    return rules


def rule_matches(
    rule: Rule,
    rows: Iterable[dict[str, Any]] | Iterator[dict[str, Any]],
    *,
    limit: int,
    budget: Budget | None = None,
) -> Iterator[Match]:
    """The matches of `rule` among event rows (already narrowed by `rule.filter`), at most `limit` rows.

    With a `budget`, raises RuleOverBudget once the rule has spent it.
    """
    for seen, row in enumerate(rows):
        if seen >= limit:
            logger.warning("Alert rule %s: stopped after %d events.", rule.key, limit)
            return
        started = time.perf_counter()
        matched = rule.matches(row)
        if budget is not None:
            budget.charge(started)
        if matched:
            yield Match(row["recorded_at"], row["id"])


def _matching(rule: Rule, qs: Any, *, limit: int, budget: Budget) -> list[Match]:
    qs = qs.filter(rule.filter).order_by("recorded_at", "id")
    if isinstance(rule, CelRule):
        rows = event_rows(qs, rule.columns).iterator(chunk_size=2000)
        try:
            return list(rule_matches(rule, rows, limit=limit, budget=budget))
        finally:
            rows.close()  # its server-side cursor, before an over-budget error ends the transaction
    return [Match(at, pk) for at, pk in qs.values_list("recorded_at", "id")[:limit]]


def _firings(
    rule: Rule, *, organization_id: uuid.UUID | str, region: str, event_ids: list[uuid.UUID]
) -> list[Firing]:
    budget = Budget()
    events = Event.objects.filter(organization_id=organization_id, region=region)
    new = _matching(rule, events.filter(id__in=event_ids), limit=len(event_ids), budget=budget)
    if not new or not rule.is_threshold:
        return sweep(new, occurrences=1, window=rule.window, cooldown=rule.cooldown)
    # Late events count in their own window: look at the matches around the new ones, by time.
    low = min(m.recorded_at for m in new) - rule.window
    high = max(m.recorded_at for m in new) + rule.window
    around = _matching(
        rule,
        events.filter(recorded_at__gte=low, recorded_at__lte=high),
        limit=MAX_CEL_EVENTS if isinstance(rule, CelRule) else MAX_MATCHES,
        budget=budget,
    )
    fired = Alert.objects.filter(
        organization_id=organization_id,
        region=region,
        rule_key=rule.key,
        window_end__gt=low - rule.cooldown,
        window_end__lt=high + rule.cooldown,
    ).values_list("window_end", flat=True)
    return sweep(
        around,
        occurrences=rule.occurrences,
        window=rule.window,
        cooldown=rule.cooldown,
        fired_at=list(fired),
        eligible={m.id for m in new},
    )


def _lock(rule: Rule, *, organization_id: uuid.UUID | str, region: str) -> bool:
    """Serialize evaluations of one rule (two workers never fire one burst twice); still active?"""
    if isinstance(rule, CelRule):
        return (
            CustomAlertRule.objects.select_for_update()
            .filter(pk=rule.key.split(":", 1)[1], enabled=True)
            .exists()
        )
    return (
        AlertRuleSetting.objects.select_for_update()
        .filter(organization_id=organization_id, region=region, rule_name=rule.name, enabled=True)
        .exists()
    )


def alerts_evaluate(
    *, organization_id: uuid.UUID | str, region: str, event_ids: Iterable[uuid.UUID | str]
) -> list[Alert]:
    """Evaluate the active rules of an organization and region on newly recorded events.

    Idempotent: a firing is keyed by (organization, region, rule, triggering event), and threshold
    rules also respect the cool-down around earlier firings, so running this twice over the same
    events creates nothing the second time. Returns the alerts it created; each one's e-mail is
    enqueued when its transaction commits (and swept up if that enqueue is lost).

    Bounded in time: each custom rule may spend ALERT_RULE_TIME_BUDGET seconds of CEL; one that
    spends more is switched off with the reason, and the other rules are evaluated as usual.
    """
    ids = [uuid.UUID(str(i)) for i in event_ids]
    created: list[Alert] = []
    for rule in active_rules(organization_id=organization_id, region=region):
        try:
            created.extend(
                _evaluate_rule(rule, organization_id=organization_id, region=region, event_ids=ids)
            )
        except RuleOverBudget as over:
            custom_alert_rule_switch_off(rule_id=rule.key.split(":", 1)[1], reason=str(over))
    return created


def _evaluate_rule(
    rule: Rule, *, organization_id: uuid.UUID | str, region: str, event_ids: list[uuid.UUID]
) -> list[Alert]:
    from alerts.tasks import alert_notify  # tasks import services

    created: list[Alert] = []
    with transaction.atomic():
        if not _lock(rule, organization_id=organization_id, region=region):
            return created
        for firing in _firings(rule, organization_id=organization_id, region=region, event_ids=event_ids):
            alert, was_created = Alert.objects.get_or_create(
                organization_id=organization_id,
                region=region,
                rule_key=rule.key,
                trigger_event_id=firing.trigger.id,
                defaults={
                    "rule_name": rule.name,
                    "custom_rule_id": rule.key.split(":", 1)[1] if isinstance(rule, CelRule) else None,
                    "severity": rule.severity,
                    "window_start": firing.window_start,
                    "window_end": firing.window_end,
                    "matched_count": firing.matched_count,
                    "sample_event_ids": [str(i) for i in firing.samples],
                },
            )
            if was_created:
                created.append(alert)
                transaction.on_commit(functools.partial(alert_notify.enqueue, str(alert.pk)))
    return created


# --- notification contacts -------------------------------------------------------------------------


def _record_contact(
    *, actor: Actor, organization: Organization, method_name: str, contact: NotificationContact
) -> None:
    record(
        organization_id=organization.pk,
        actor=actor,
        product_name=CONTACT_PRODUCT,
        service_name=CONTACT_SERVICE,
        method_name=method_name,
        locality="global",
        resources=[],
        request_body={
            "organization_id": str(organization.pk),
            "contact_id": str(contact.pk),
            "email": contact.email,
            "types": [t.lower() for t in contact.types],
        },
    )


@transaction.atomic
def notification_contact_create(
    *, actor: Actor, organization: Organization, email: str, types: Iterable[str]
) -> NotificationContact:
    """Add an e-mail contact subscribed to `types` (values of NotificationContact.Type)."""
    chosen = set(types)
    contact = NotificationContact.objects.create(
        organization=organization,
        email=email.strip().lower(),
        **{t: t in chosen for t in NotificationContact.Type.values},
    )
    _record_contact(actor=actor, organization=organization, method_name="CreateContact", contact=contact)
    return contact


@transaction.atomic
def notification_contact_update(
    *, actor: Actor, contact: NotificationContact, types: Iterable[str]
) -> NotificationContact:
    """Change the notification types a contact subscribes to."""
    chosen = set(types)
    for value in NotificationContact.Type.values:
        setattr(contact, value, value in chosen)
    contact.save(update_fields=NotificationContact.Type.values)
    _record_contact(
        actor=actor, organization=contact.organization, method_name="UpdateContact", contact=contact
    )
    return contact


@transaction.atomic
def notification_contact_delete(*, actor: Actor, contact: NotificationContact) -> None:
    organization = contact.organization
    _record_contact(actor=actor, organization=organization, method_name="DeleteContact", contact=contact)
    contact.delete()
