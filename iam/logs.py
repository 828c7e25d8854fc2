"""IAM logs (IAM API `ListLogs`, console IAM ▸ Logs) derive from the trail's IAM events.

A log entry is a successful IAM event whose method creates, updates or deletes an API key,
user, application, group or policy. Its id is the event's id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, QuerySet, Sum, Value

from audit.models import IAM_LOG_METHOD_NAMES, Event, EventRollup
from audit.services import hour_of

# method_name -> (action, resource_type)
IAM_LOG_METHODS: dict[str, tuple[str, str]] = {
    "CreateAPIKey": ("created", "api_key"),
    "UpdateAPIKey": ("updated", "api_key"),
    "DeleteAPIKey": ("deleted", "api_key"),
    "CreateUser": ("created", "user"),
    "UpdateUser": ("updated", "user"),
    "DeleteUser": ("deleted", "user"),
    "CreateApplication": ("created", "application"),
    "UpdateApplication": ("updated", "application"),
    "DeleteApplication": ("deleted", "application"),
    "CreateGroup": ("created", "group"),
    "UpdateGroup": ("updated", "group"),
    "DeleteGroup": ("deleted", "group"),
    "AddGroupMember": ("updated", "group"),
    "AddGroupMembers": ("updated", "group"),
    "RemoveGroupMember": ("updated", "group"),
    "SetGroupMembers": ("updated", "group"),
    "CreatePolicy": ("created", "policy"),
    "UpdatePolicy": ("updated", "policy"),
    "DeletePolicy": ("deleted", "policy"),
    "ClonePolicy": ("created", "policy"),
    "SetRules": ("updated", "policy"),
}
# The partial index audit_event_iam_log_idx holds exactly these methods' events: a method added
# here goes there too (a new migration), or the logs' query would no longer match the index.
assert tuple(IAM_LOG_METHODS) == IAM_LOG_METHOD_NAMES, (
    "IAM_LOG_METHODS and audit's IAM_LOG_METHOD_NAMES differ"
)
LOG_ACTIONS = ("created", "updated", "deleted")
LOG_RESOURCE_TYPES = ("api_key", "user", "application", "group", "policy")


@dataclass(frozen=True)
class IamLog:
    id: uuid.UUID
    created_at: datetime
    ip: str | None
    user_agent: str
    action: str
    bearer_id: uuid.UUID | None
    bearer_type: str  # user / application / system / anonymous
    bearer_name: str
    organization_id: uuid.UUID
    resource_type: str
    resource_id: str
    resource_name: str = ""  # the resource's name when the event recorded one (not on the IAM API wire)

    @classmethod
    def from_event(cls, event: Event) -> IamLog:
        action, resource_type = IAM_LOG_METHODS[event.method_name]
        resource_id = str(event.resources[0].get("id", "")) if event.resources else ""
        if not resource_id and event.method_name == "DeleteAPIKey":
            resource_id = str(event.request_body.get("access_key", ""))
        return cls(
            id=event.id,
            created_at=event.recorded_at,
            ip=event.source_ip,
            user_agent=event.user_agent,
            action=action,
            bearer_id=event.principal_id,
            bearer_type=event.principal_type,
            bearer_name=event.principal_name,
            organization_id=event.organization_id,
            resource_type=resource_type,
            resource_id=resource_id,
            resource_name=str((event.resources[0].get("name") if event.resources else "") or ""),
        )


def iam_log_events(
    *,
    organization_id: uuid.UUID,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    bearer_id: uuid.UUID | None = None,
    search: str | None = None,
    ascending: bool = False,
) -> QuerySet[Event]:
    """The IAM events behind the logs, filtered and ordered by date. Call IamLog.from_event per row.

    Index-driven: the partial index audit_event_iam_log_idx holds exactly the events these
    filters start from (the successful IAM changes), by organization and time, in either order.
    """
    methods = [
        m
        for m, (a, r) in IAM_LOG_METHODS.items()
        if (not action or a == action) and (not resource_type or r == resource_type)
    ]
    qs = Event.objects.filter(
        organization_id=organization_id, product_name="iam", status_code=200, method_name__in=methods
    )
    if created_after:
        qs = qs.filter(recorded_at__gte=created_after)
    if created_before:
        qs = qs.filter(recorded_at__lte=created_before)
    if bearer_id:
        qs = qs.filter(principal_id=bearer_id)
    if search:
        search = search.strip()
        try:
            qs = qs.filter(principal_id=uuid.UUID(search)) | qs.filter(resources__has_item={"id": search})
        except ValueError:
            qs = qs.filter(resources__has_item={"id": search})
    order = ["recorded_at", "id"] if ascending else ["-recorded_at", "-id"]
    return qs.order_by(*order)


def iam_log_count(
    *,
    organization_id: uuid.UUID,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> int:
    """How many IAM log entries the organization has, recorded in [created_after, created_before]
    (either bound may be open): what `iam_log_events` with these filters alone would count, in one
    query whose cost does not grow with the entries.

    The window's whole hours (UTC) are summed from `EventRollup.iam_logs`, which the door keeps;
    the events before the first whole hour and from the last one on (less than an hour at each
    edge) are counted on the partial index `audit_event_iam_log_idx`, in the same UNION ALL.
    """
    entries = iam_log_events(
        organization_id=organization_id, created_after=created_after, created_before=created_before
    ).order_by()
    hours = EventRollup.objects.using(entries.db).filter(organization_id=organization_id)
    parts = []
    try:
        first = _hour_at_or_after(created_after) if created_after is not None else None
        last = hour_of(created_before) if created_before is not None else None
    except (OverflowError, ValueError):  # an hour past year 9999: no whole hour to read
        return entries.count()
    if first is not None and last is not None and first >= last:
        return entries.count()  # within one hour, or two partial ones: the index alone
    if first is not None:
        hours = hours.filter(hour__gte=first)
        parts.append(entries.filter(recorded_at__lt=first))
    if last is not None:  # the hour holding created_before, counted from the index
        hours = hours.filter(hour__lt=last)
        parts.append(entries.filter(recorded_at__gte=last))
    rolled = (
        hours.annotate(one=Value(1, IntegerField())).values("one").annotate(n=Sum("iam_logs")).values("n")
    )
    counted = [
        part.annotate(one=Value(1, IntegerField())).values("one").annotate(n=Count("*")).values("n")
        for part in parts
    ]
    return sum(n or 0 for n in rolled.union(*counted, all=True).values_list("n", flat=True))


def _hour_at_or_after(moment: datetime) -> datetime:
    """The first whole hour (UTC) at or after `moment`."""
    hour = hour_of(moment)
    return hour if hour == moment else hour + timedelta(hours=1)
