from __future__ import annotations

from typing import Any, NoReturn

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.lookups import HasItem, InNetwork
from core.ids import uuid7

APPEND_ONLY = "Audit events are append-only."


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError(APPEND_ONLY)

    def delete(self) -> NoReturn:
        raise TypeError(APPEND_ONLY)

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(APPEND_ONLY)


class AppendOnlyModel(models.Model):
    """Rows are written once. The database trigger (migration 0002) backs these Python guards."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(APPEND_ONLY)


# The methods whose successful calls (product "iam") are IAM log entries: `iam.logs.IAM_LOG_METHODS`
# names each one's action and resource type. Here because the partial index
# audit_event_iam_log_idx holds exactly these events, and iam reads the trail, not the reverse.
IAM_LOG_METHOD_NAMES = (
    "CreateAPIKey", "UpdateAPIKey", "DeleteAPIKey",
    "CreateUser", "UpdateUser", "DeleteUser",
    "CreateApplication", "UpdateApplication", "DeleteApplication",
    "CreateGroup", "UpdateGroup", "DeleteGroup",
    "AddGroupMember", "AddGroupMembers", "RemoveGroupMember", "SetGroupMembers",
    "CreatePolicy", "UpdatePolicy", "DeletePolicy", "ClonePolicy", "SetRules",
)  # fmt: skip


# Indexes that only PostgreSQL has, made by migration 0007 outside the model's state: pg_trgm GIN
# indexes over expressions (the free text's `SearchText`, the recorded principal name), which
# SQLite has no use for. Every partition has them too (`ensure_partitions`).
POSTGRESQL_ONLY_INDEXES = ("audit_event_search_trgm", "audit_event_principal_name_trgm")


class PrincipalType(models.TextChoices):
    USER = "user", "User"
    APPLICATION = "application", "IAM application"
    SYSTEM = "system", "Scaleway"
    ANONYMOUS = "anonymous", "Anonymous"


class Event(AppendOnlyModel):
    """One audited API call, in the wire shape of Scaleway's Audit Trail (reference §3.1).

    On PostgreSQL the table is range-partitioned by month on `recorded_at`, so nothing may hold a
    foreign key to it and resources live in JSON. Its real key, on both databases, is
    `(id, recorded_at, organization_id)` (`audit.partitions.EVENT_KEY`): an id is unique within
    its organization only, as ingestion's idempotency keys (`EventKey`) are.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    recorded_at = models.DateTimeField(default=timezone.now)  # partition key
    organization_id = models.UUIDField()
    project_id = models.UUIDField(null=True, blank=True)
    locality = models.CharField(max_length=16)
    # Derived from locality (global -> fr-par) and stored, because every query filters on it.
    region = models.CharField(max_length=16)
    principal_id = models.UUIDField(null=True, blank=True)
    principal_type = models.CharField(max_length=16, choices=PrincipalType.choices)
    # The principal's name when the event happened; the console shows it only while the
    # principal is still resolvable in the organization.
    principal_name = models.CharField(max_length=200, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    product_name = models.CharField(max_length=64)
    service_name = models.CharField(max_length=128)
    method_name = models.CharField(max_length=128)
    resources = models.JSONField(default=list, blank=True)  # [{"type", "id", "name", "<type>_info"}]
    request_id = models.CharField(max_length=64, blank=True)
    request_body = models.JSONField(default=dict, blank=True)
    status_code = models.PositiveSmallIntegerField()

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "audit_event"
        ordering = ["-recorded_at", "-id"]
        default_permissions = ("view",)
        indexes = [
            # The Events page and ListEvents: one organization and region, newest first, keyset.
            # It carries status_code so that the timeline (events and 403s per bucket) counts
            # from the index alone, an index-only scan (`manage.py bench_events`: 30 days of a
            # busy organization, 340k events, in ~50 ms instead of ~450 ms reading the table).
            models.Index(
                fields=["organization_id", "region", "-recorded_at", "-id"],
                include=["status_code"],
                name="audit_event_org_time_idx",
            ),
            # Principal filter, and the IAM logs' "by this bearer" lookups. Like the method and
            # project indexes, it carries region and status_code (INCLUDE: no key column, so a
            # query without a region still walks it by time) and ends on -id: the page reads it in
            # keyset order and the timeline counts from it alone (an index-only scan), migration 0007.
            models.Index(
                fields=["organization_id", "principal_id", "-recorded_at", "-id"],
                include=["region", "status_code"],
                name="audit_event_principal_idx",
            ),
            # Project filter (migration 0007): as the principal's.
            models.Index(
                fields=["organization_id", "project_id", "-recorded_at", "-id"],
                include=["region", "status_code"],
                name="audit_event_project_idx",
            ),
            # IP and CIDR filter: PostgreSQL turns `source_ip <<= '10.0.0.0/24'` into a range of this
            # btree (inet orders a network's addresses together); recorded_at, region and status_code
            # ride along so the timeline counts the matches from the index alone (migration 0007).
            models.Index(
                fields=["organization_id", "source_ip", "recorded_at"],
                include=["region", "status_code"],
                name="audit_event_source_ip_idx",
            ),
            # IAM ▸ Logs and the IAM API's ListLogs: the successful IAM changes of one organization,
            # newest (or oldest) first. Partial, so it holds those few events and nothing else.
            models.Index(
                fields=["organization_id", "-recorded_at", "-id"],
                condition=Q(product_name="iam", status_code=200, method_name__in=IAM_LOG_METHOD_NAMES),
                name="audit_event_iam_log_idx",
            ),
            # Status 403 filter (its page and its facets), the timeline's 403 series and
            # HttpForbiddenErrorRateHigh. It carries status_code, or the status filter's timeline
            # would rather scan every entry of audit_event_org_time_idx index-only than this
            # one's few plus the table. It carries the facets' columns too, in the list's keyset
            # order, so that the facets of refused events read their sample from the index
            # alone: refused events lie far apart in the table, a page each, and the facets of
            # 30 days of 403s read 2,438 buffers from the table, 66 from this index (3.4 -> 0.8
            # ms, EXPLAIN ANALYZE, `manage.py bench_events`). Refused events are ~4% of a trail,
            # so the index stays small: 2.3 MB (was 1.2) for a partition of 312k events.
            models.Index(
                fields=["organization_id", "region", "-recorded_at", "-id"],
                include=[
                    "status_code",
                    "principal_type",
                    "principal_id",
                    "principal_name",
                    "source_ip",
                    "product_name",
                    "method_name",
                ],
                condition=~Q(status_code=200),
                name="audit_event_refused_idx",
            ),
            # Method filter (and the alert rules on CreateAPIKey/DeleteAPIKey).
            models.Index(
                fields=["organization_id", "method_name", "-recorded_at", "-id"],
                include=["region", "status_code"],
                name="audit_event_method_idx",
            ),
            # Resource type/id filters: resources @> '[{"id": ...}]'. SQLite gets a plain index.
            GinIndex(fields=["resources"], opclasses=["jsonb_path_ops"], name="audit_event_resources_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.method_name} {self.status_code} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"

    @property
    def is_denied(self) -> bool:
        return self.status_code == 403

    @property
    def status_label(self) -> str:
        return {200: "Successful", 403: "Forbidden"}.get(self.status_code, "Error")


class EventKey(models.Model):
    """An ingested event's idempotency key: its producer's id, within its organization.

    The ingestion claims the keys of a batch in one INSERT ... ON CONFLICT DO NOTHING, in the
    transaction that stores the events, and stores only the events whose key was new. The events
    table cannot enforce this itself: a unique key of a partitioned table must hold the partition
    key, and a retry may carry another `recorded_at`. Concurrent claims of a key wait on its
    unique index entry, so it is stored once however many clients send it at once. Written once
    and never changed (INSERT and SELECT are all the runtime role needs), with no foreign key to
    the events.
    """

    pk = models.CompositePrimaryKey("organization_id", "event_id")
    organization_id = models.UUIDField()
    event_id = models.UUIDField()

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "audit_event_key"
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.organization_id}/{self.event_id}"


class EventRollup(models.Model):
    """How many events (and 403s among them) one organization recorded in one region in one hour
    (UTC, `hour` its first instant): the unfiltered timeline's per-bucket counts, precomputed.

    Kept by the one door (`audit.services`) in the transaction that stores the events, with an
    upsert that adds to the hour's row: a late event (an old `recorded_at`) adds to its own hour.
    Not an events table: its rows change, so it is not append-only (the runtime role may INSERT
    and UPDATE it, as every table outside `audit.database.APPEND_ONLY_TABLES`). Migration 0009
    created it and filled it from the events already stored; 0010 added the IAM log entries.
    """

    pk = models.CompositePrimaryKey("organization_id", "region", "hour")
    organization_id = models.UUIDField()
    region = models.CharField(max_length=16)
    hour = models.DateTimeField()
    events = models.IntegerField()
    refused = models.IntegerField()
    # Of them, the IAM log entries (successful IAM changes, `iam.logs`): the IAM logs' total.
    iam_logs = models.IntegerField(default=0)

    class Meta:
        db_table = "audit_event_rollup"
        default_permissions = ()
        indexes = [
            # The counts read off the index (PostgreSQL; SQLite builds it without INCLUDE): rows
            # updated hour after hour scatter over the table, and a month of one organization's
            # IAM log total read 9,000 pages of it at 10 M events.
            models.Index(
                fields=["organization_id", "region", "hour"],
                include=["events", "refused", "iam_logs"],
                name="audit_event_rollup_counts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}/{self.region}/{self.hour:%Y-%m-%d %H:00}: {self.events}"


Event._meta.get_field("resources").register_lookup(HasItem)
Event._meta.get_field("source_ip").register_lookup(InNetwork)


class AuthenticationEvent(AppendOnlyModel):
    """A console sign-in attempt (reference §3.4)."""

    class Result(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    class FailureReason(models.TextChoices):
        NONE = "", "—"
        INVALID_PASSWORD = "invalid_password", "Invalid password"
        INVALID_MFA = "invalid_mfa", "Invalid MFA"
        UNKNOWN_USER = "unknown_user", "Unknown user"
        THROTTLED = "throttled", "Too many attempts"

    class Method(models.TextChoices):
        PASSWORD = "password", "Password"
        AUTHENTICATION_CODE = "authentication_code", "Authentication code"
        OAUTH2 = "oauth2", "OAuth2"
        SAML = "saml", "SAML"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    recorded_at = models.DateTimeField(default=timezone.now)
    # Null when the e-mail matched no user (nobody's organization to file it under).
    organization_id = models.UUIDField(null=True, blank=True)
    user_id = models.UUIDField(null=True, blank=True)
    email = models.CharField(max_length=254, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    result = models.CharField(max_length=16, choices=Result.choices)
    failure_reason = models.CharField(max_length=32, choices=FailureReason.choices, blank=True)
    method = models.CharField(max_length=32, choices=Method.choices, default=Method.PASSWORD)
    origin = models.CharField(max_length=16, default="public_api")
    mfa_type = models.CharField(max_length=16, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        default_permissions = ("view",)
        indexes = [
            # ListAuthenticationEvents: one organization, newest first.
            models.Index(
                fields=["organization_id", "-recorded_at", "-id"], name="audit_authevent_org_time_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} {self.result} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


AuthenticationEvent._meta.get_field("source_ip").register_lookup(InNetwork)  # the Sign-ins tab's CIDR filter


class SystemEvent(AppendOnlyModel):
    """What the platform itself did for an organization (reference §3.5): an export job's run
    (`cron`), an alert e-mail sent (`notification`). No principal, no request: a row of its own,
    append-only like the events, written only through `audit.services.record_system`."""

    class Kind(models.TextChoices):
        CRON = "cron", "Scheduled job"
        NOTIFICATION = "notification", "Notification"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    recorded_at = models.DateTimeField(default=timezone.now)
    organization_id = models.UUIDField()
    project_id = models.UUIDField(null=True, blank=True)
    locality = models.CharField(max_length=16)
    region = models.CharField(max_length=16)
    product_name = models.CharField(max_length=64)
    source = models.CharField(max_length=128)
    system_name = models.CharField(max_length=128)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    resources = models.JSONField(default=list, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        default_permissions = ("view",)
        indexes = [
            # ListSystemEvents and ListCombinedEvents: one organization and region, newest first.
            models.Index(
                fields=["organization_id", "region", "-recorded_at", "-id"],
                name="audit_sysevent_org_time_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.system_name} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"


SystemEvent._meta.get_field("resources").register_lookup(HasItem)
