from __future__ import annotations

import uuid
from datetime import timedelta
from functools import cached_property

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from alerts.rules import (
    PRECONFIGURED_BY_NAME,
    CelRule,
    PreconfiguredRule,
    Severity,
    compile_expression,
    humanize_duration,
)
from core.ids import uuid7
from worker.models import Delivery, EmailDelivery

SEVERITY_CHOICES = Severity.CHOICES
CUSTOM_PREFIX = "custom:"


class AlertRuleSetting(models.Model):
    """Whether a preconfigured rule is active, per organization and region. No row means inactive."""

    organization = models.ForeignKey("iam.Organization", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16)
    rule_name = models.CharField(max_length=64)  # a key of rules.PRECONFIGURED_BY_NAME
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Also serves "the active rules of this organization and region" (evaluation).
            models.UniqueConstraint(
                fields=["organization", "region", "rule_name"], name="alerts_setting_unique_rule"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name} in {self.region}: {'active' if self.enabled else 'inactive'}"

    @property
    def rule(self) -> PreconfiguredRule:
        return PRECONFIGURED_BY_NAME[self.rule_name]


class CustomAlertRule(models.Model):
    """A rule written by the organization: a CEL expression over events (reference §3.9)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("iam.Organization", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    query = models.TextField()  # CEL
    occurrences = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    evaluation_window = models.DurationField(default=timedelta(minutes=5))
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES, default=Severity.INFO)
    enabled = models.BooleanField(default=True)
    # Why the platform switched the rule off (too costly to evaluate); cleared when it is enabled.
    disabled_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "region", "name"], name="alerts_custom_rule_unique_name"
            ),
        ]
        indexes = [
            # Evaluation: the active custom rules of one organization and region.
            models.Index(fields=["organization", "region", "enabled"], name="alerts_custom_rule_active_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def key(self) -> str:
        return f"{CUSTOM_PREFIX}{self.pk}"

    @property
    def window_label(self) -> str:
        return humanize_duration(self.evaluation_window)

    @cached_property
    def rule(self) -> CelRule:
        return CelRule(
            key=self.key,
            name=self.name,
            description=self.description,
            severity=self.severity,
            program=compile_expression(self.query),
            occurrences=self.occurrences,
            window=self.evaluation_window,
        )


class Alert(EmailDelivery):
    """One firing of a rule. Events are referenced by id only: the events table is partitioned.

    Its e-mail's state (`notification_*`) is `worker.delivery`'s: sent at least once, marked sent
    only once SMTP took it, with one Message-ID whatever the attempt.
    """

    Notification = Delivery

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    organization = models.ForeignKey("iam.Organization", on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=16)
    rule_key = models.CharField(max_length=64)  # "ApiKeyCreated" or "custom:<uuid>"
    rule_name = models.CharField(max_length=100)  # as it was named when it fired
    custom_rule = models.ForeignKey(
        CustomAlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    fired_at = models.DateTimeField(default=timezone.now)
    # The events behind the alert were recorded in [window_start, window_end].
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    matched_count = models.PositiveIntegerField()
    # The event that made the rule fire (the one that crossed the threshold): the idempotency key.
    trigger_event_id = models.UUIDField()
    sample_event_ids = models.JSONField(default=list, blank=True)
    recipients = models.JSONField(default=list, blank=True)

    class Meta(EmailDelivery.Meta):
        ordering = ["-fired_at", "-id"]
        constraints = [
            # Evaluation may run twice over the same events: the second run finds this row.
            models.UniqueConstraint(
                fields=["organization", "region", "rule_key", "trigger_event_id"],
                name="alerts_alert_unique_firing",
            ),
        ]
        indexes = [
            *EmailDelivery.Meta.indexes,
            # The tab's list of fired alerts: one organization and region, newest first.
            models.Index(fields=["organization", "region", "-fired_at"], name="alerts_alert_list_idx"),
            # Threshold rules' cool-down: this rule's firings around a time.
            models.Index(
                fields=["organization", "region", "rule_key", "window_end"], name="alerts_alert_cooldown_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name} fired at {self.fired_at:%Y-%m-%d %H:%M:%S}"

    @property
    def severity_label(self) -> str:
        return Severity.LABELS.get(self.severity, self.severity)


class NotificationContact(models.Model):
    """An e-mail address and the notification types it subscribes to. Alerts go to Security."""

    class Type(models.TextChoices):
        SECURITY = "security", "Security"
        BILLING = "billing", "Billing"
        TECHNICAL = "technical", "Technical"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("iam.Organization", on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    security = models.BooleanField("Security", default=False)
    billing = models.BooleanField("Billing", default=False)
    technical = models.BooleanField("Technical", default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="alerts_contact_unique_email"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def types(self) -> list[str]:
        return [label for value, label in self.Type.choices if getattr(self, value)]
