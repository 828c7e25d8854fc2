"""Reads of IAM, always scoped by the request's organization."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet

from audit.models import Event, PrincipalType
from core import SCALEWAY
from core.ids import uuid7_time
from core.paging import Cursor, EventPage, event_page
from iam.filters import RESOURCE_TYPE_LABELS
from iam.logs import IamLog
from iam.models import APIKey, Application, Group, Invitation, Membership, Organization, Policy, Rule, User

UNKNOWN = "Unknown"


@dataclass(frozen=True)
class MemberRow:
    user: User
    joined_at: datetime
    is_owner: bool
    membership: Membership | None


def member_list(*, organization: Organization) -> list[MemberRow]:
    """The owner, then active members by join date. Two queries."""
    memberships = list(
        Membership.objects.active()
        .filter(organization=organization)
        .select_related("user", "organization")
        .order_by("joined_at", "pk")
    )
    rows = [MemberRow(m.user, m.joined_at, m.user_id == organization.owner_id, m) for m in memberships]
    if not any(r.is_owner for r in rows):
        owner = User.objects.get(pk=organization.owner_id)
        rows.insert(0, MemberRow(owner, organization.created_at, True, None))
    rows.sort(key=lambda r: (not r.is_owner, r.joined_at))
    return rows


def member_users(*, organization: Organization) -> QuerySet[User]:
    """Users who are in the organization now: the owner and active members."""
    return (
        User.objects.filter(
            Q(pk=organization.owner_id)
            | Q(memberships__organization=organization, memberships__removed_at__isnull=True)
        )
        .distinct()
        .order_by("email")
    )


def invitation_list(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        organization=organization, status=Invitation.Status.PENDING
    ).select_related("invited_by")


def application_list(*, organization: Organization) -> QuerySet[Application]:
    return (
        Application.objects.filter(organization=organization)
        .annotate(nb_api_keys=Count("api_keys", distinct=True))
        .order_by("name", "pk")
    )


def group_list(*, organization: Organization) -> QuerySet[Group]:
    return (
        Group.objects.filter(organization=organization)
        .annotate(
            nb_users=Count("users", distinct=True), nb_applications=Count("applications", distinct=True)
        )
        .order_by("name", "pk")
    )


def policy_list(*, organization: Organization) -> QuerySet[Policy]:
    return (
        Policy.objects.filter(organization=organization)
        .select_related("user", "group", "application")
        .prefetch_related(Prefetch("rules", queryset=Rule.objects.order_by("pk")))
        .order_by("name", "pk")
    )


def api_key_list(*, organization: Organization) -> QuerySet[APIKey]:
    return APIKey.objects.filter(organization=organization).select_related(
        "user", "application", "default_project"
    )


# --- IAM logs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    """One IAM log entry as the console shows it, with the principal resolved for this viewer."""

    log: IamLog
    principal: str  # a name, "Unknown" or "Scaleway"

    @property
    def id(self) -> uuid.UUID:
        return self.log.id

    @property
    def created_at(self) -> datetime:
        return self.log.created_at

    @property
    def action(self) -> str:
        return self.log.action

    @property
    def resource_type(self) -> str:
        return self.log.resource_type

    @property
    def resource_id(self) -> str:
        return self.log.resource_id

    @property
    def resource_name(self) -> str:
        return self.log.resource_name

    @property
    def resource_type_label(self) -> str:
        return RESOURCE_TYPE_LABELS.get(self.log.resource_type, self.log.resource_type)

    @property
    def bearer_id(self) -> uuid.UUID | None:
        return self.log.bearer_id

    @property
    def is_platform(self) -> bool:
        return self.log.bearer_type == PrincipalType.SYSTEM

    @property
    def is_unknown(self) -> bool:
        return self.principal == UNKNOWN


def principal_names(
    *, organization: Organization, logs: list[IamLog], may_see_principals: bool
) -> dict[uuid.UUID, str]:
    """Current names of the principals still in the organization; at most two queries.

    A removed member, a deleted user or application, and any principal when the viewer may not
    see principal details (no `iam:read`), are absent: the caller shows them as "Unknown".
    """
    if not may_see_principals:
        return {}
    user_ids = {log.bearer_id for log in logs if log.bearer_type == PrincipalType.USER and log.bearer_id}
    app_ids = {
        log.bearer_id for log in logs if log.bearer_type == PrincipalType.APPLICATION and log.bearer_id
    }
    names: dict[uuid.UUID, str] = {}
    if user_ids:
        names.update(
            member_users(organization=organization).filter(pk__in=user_ids).values_list("pk", "email")
        )
    if app_ids:
        names.update(
            Application.objects.filter(organization=organization, pk__in=app_ids).values_list("pk", "name")
        )
    return names


def log_rows(*, organization: Organization, events: list[Event], may_see_principals: bool) -> list[LogRow]:
    logs = [IamLog.from_event(e) for e in events]
    names = principal_names(organization=organization, logs=logs, may_see_principals=may_see_principals)
    rows = []
    for log in logs:
        if log.bearer_type == PrincipalType.SYSTEM:
            principal = SCALEWAY
        else:
            principal = names.get(log.bearer_id, UNKNOWN) if log.bearer_id else UNKNOWN
        rows.append(LogRow(log, principal))
    return rows


def iam_log_page(
    *,
    organization: Organization,
    events: QuerySet[Event],
    may_see_principals: bool,
    ascending: bool = False,
    cursor: Cursor | None = None,
    page_size: int = 50,
) -> tuple[list[LogRow], EventPage[Event]]:
    """One keyset page of IAM log entries (`events` from `iam_log_events`), principals resolved.

    One query for the page, plus at most two to resolve principal names.
    """
    page = event_page(events, order="asc" if ascending else "desc", cursor=cursor, page_size=page_size)
    return log_rows(
        organization=organization, events=page.events, may_see_principals=may_see_principals
    ), page


def iam_log_get(*, organization: Organization, log_id: uuid.UUID, events: QuerySet[Event]) -> Event | None:
    """One entry by id, or None. One query, two for an id not found in its time's window.

    A UUIDv7 id carries its time, which bounds the lookup to one partition. Any other id (a v4,
    or a v7 whose time lies past year 9999 or far from when the event was recorded, as an
    external producer may send) is looked up without the bound: the id only narrows the search.
    """
    window = _id_window(log_id)
    if window is not None:
        event = events.filter(pk=log_id, recorded_at__range=window).first()
        if event is not None:
            return event
    return events.filter(pk=log_id).first()


def _id_window(value: uuid.UUID) -> tuple[datetime, datetime] | None:
    """A second either side of the time a UUIDv7 id carries; None when the id is not a v7 or
    its time is out of range (e.g. ffffffff-…, past year 9999)."""
    if value.version != 7:
        return None
    try:
        at = uuid7_time(value)
        return at - timedelta(seconds=1), at + timedelta(seconds=1)
    except (ValueError, OverflowError, OSError):
        return None
