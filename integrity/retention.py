"""Retention that keeps the proof: events older than their organization's retention are removed,
and the trail still verifies.

Before anything is removed, a signed `Checkpoint` records the head at the cut and what goes: the
leaf index set (as runs), the count and the time range. The leaves themselves (32-byte hashes,
`integrity.models.Leaf`) stay, so `verify_trail` hashes a purged event's stored leaf into the tree
where it sat: the kept events, late arrivals between purged ones included, still verify against
every signed head.

Removal runs as the tables' owner (`DATABASE_OWNER_URL`, the `owner` alias), never as the runtime
role, which may neither delete events nor detach a partition (`RetentionRefused` otherwise):

- PostgreSQL: a monthly partition that ends before every organization's cut (the longest
  retention), and holds no event of an organization under legal hold nor of one without a
  checkpoint covering it, is detached and dropped. Partitions are shared by every organization, so
  an organization with a shorter retention than the longest has its older rows deleted inside the
  kept partitions, with the append-only trigger disabled for that one transaction.
- SQLite has no partitions and its trigger refuses only UPDATE: the rows are deleted.

An organization under legal hold is skipped entirely: no checkpoint, nothing removed.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connections, models, transaction
from django.db.models import Max, Min
from django.utils import timezone

from audit.database import as_owner, owner_alias
from audit.models import Event, SystemEvent
from audit.partitions import TABLE, _add_months
from audit.services import Actor, record, record_system, recount_rollup
from core.regions import DEFAULT_REGION
from integrity.canonical import checkpoint_message
from integrity.keys import signing_key
from integrity.models import Checkpoint, Leaf, RetentionPolicy, TreeState

SOURCE = "integrity.retention"
PRODUCT = "audit-trail"
SERVICE = "scaleway.audit_trail.v1alpha1.Api"
ROW_TRIGGER = "audit_event_append_only"
PARTITION_RE = re.compile(rf"^{TABLE}_p(\d{{4}})_(\d{{2}})$")


class RetentionRefused(Exception):
    """The purge's connection is not the events table's owner (the runtime role, say)."""


@dataclass
class PurgeReport:
    checkpoints: list[Checkpoint] = field(default_factory=list)
    held: list[uuid.UUID] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # partitions detached and dropped
    deleted: int = 0  # rows deleted inside kept partitions (or on SQLite)

    @property
    def removed(self) -> int:
        return sum(c.count for c in self.checkpoints)


# -- Policy ----------------------------------------------------------------------------------------


def policy(organization_id: uuid.UUID | str) -> RetentionPolicy:
    """The organization's policy (the default one, unsaved, when it has none)."""
    found = RetentionPolicy.objects.filter(organization_id=organization_id).first()
    return found or RetentionPolicy(organization_id=organization_id)


def set_retention(
    organization_id: uuid.UUID | str, days: int, *, actor: Actor, locality: str = DEFAULT_REGION
) -> RetentionPolicy:
    """Change the organization's retention, recorded in its trail with the actor (nothing when
    unchanged). Raises ValueError below one day."""
    if days < 1:
        raise ValueError("The retention is at least one day.")
    with transaction.atomic():
        RetentionPolicy.objects.get_or_create(organization_id=organization_id)
        current = RetentionPolicy.objects.select_for_update().get(organization_id=organization_id)
        if current.days == days:
            return current
        before, current.days = current.days, days
        current.save(update_fields=["days"])
        record(
            organization_id=organization_id,
            actor=actor,
            product_name=PRODUCT,
            service_name=SERVICE,
            method_name="SetRetention",
            locality=locality,
            resources=[{"id": str(organization_id), "type": "retention", "name": "retention"}],
            request_body={"days": days, "previous_days": before},
        )
    return current


def set_legal_hold(
    organization_id: uuid.UUID | str,
    *,
    hold: bool,
    actor: Actor,
    reason: str = "",
    locality: str = DEFAULT_REGION,
) -> RetentionPolicy:
    """Set or lift the organization's legal hold, and record it through the trail's one door with
    the actor who did it. A no-op (nothing recorded) when the hold is already so."""
    with transaction.atomic():
        RetentionPolicy.objects.get_or_create(organization_id=organization_id)
        current = RetentionPolicy.objects.select_for_update().get(organization_id=organization_id)
        if current.legal_hold == hold:
            return current
        current.legal_hold = hold
        current.hold_changed_by = actor.principal_name or str(actor.principal_type)
        current.hold_changed_at = timezone.now()
        current.save()
        record(
            organization_id=organization_id,
            actor=actor,
            product_name=PRODUCT,
            service_name=SERVICE,
            method_name="SetLegalHold" if hold else "LiftLegalHold",
            locality=locality,
            resources=[{"id": str(organization_id), "type": "legal_hold", "name": "legal hold"}],
            request_body={"legal_hold": hold, "reason": reason[:500]},
        )
    return current


# -- The purge -------------------------------------------------------------------------------------


def require_owner(using: str) -> None:
    """Refuse unless `using` connects as the events table's owner (or a member of its role)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, pg_get_userbyid(relowner), pg_has_role(current_user, relowner, 'USAGE') "
            "FROM pg_class WHERE oid = to_regclass(%s)",
            [TABLE],
        )
        user, owner, is_owner = cursor.fetchone()
    if not is_owner:
        raise RetentionRefused(
            f"The purge connects as {user}, which does not own {TABLE} (its owner is {owner}): it runs as "
            "the owner only. Set DATABASE_OWNER_URL."
        )


def purge(*, now: datetime | None = None) -> PurgeReport:
    """Remove every organization's events older than its retention, except under a legal hold.
    Checkpoints first (one signed checkpoint and one system event per organization), then removal;
    all in one transaction on the owner's connection. Idempotent: nothing older is left to remove."""
    from iam.models import Organization
    from integrity.services import seal

    using = owner_alias()
    require_owner(using)
    now = now or timezone.now()
    policies = {p.organization_id: p for p in RetentionPolicy.objects.all()}
    organizations = set(Organization.objects.values_list("pk", flat=True)) | set(policies)
    report = PurgeReport()
    cuts: dict[uuid.UUID, datetime] = {}
    for organization_id in sorted(organizations):
        current = policies.get(organization_id) or RetentionPolicy(organization_id=organization_id)
        if current.legal_hold:
            report.held.append(organization_id)
            continue
        cuts[organization_id] = now - timedelta(days=current.days)
    longest = max([p.days for p in policies.values()] + [RetentionPolicy.DEFAULT_DAYS])
    floor = now - timedelta(days=longest)
    for organization_id in cuts:
        seal(organization_id)  # every event to remove is a leaf first (the sealer's own connection)
    with as_owner(), transaction.atomic(using=using):
        if connections[using].vendor == "postgresql":
            with connections[using].cursor() as cursor:  # maintenance never queues behind readers for long
                cursor.execute("SET LOCAL lock_timeout = '5s'")
        for organization_id, cut in cuts.items():
            checkpoint = _checkpoint(organization_id, cut)
            if checkpoint is not None:
                report.checkpoints.append(checkpoint)
        covered = {c.organization_id: c.cut for c in report.checkpoints}
        if connections[using].vendor == "postgresql":
            report.dropped = _drop_partitions(using, floor, covered)
        report.deleted = _delete_rows(using, covered)
        for organization_id, cut in covered.items():  # the timeline's hourly counts follow
            recount_rollup(organization_id=organization_id, before=cut, using=using)
    return report


def _runs(indexes: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in indexes:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def checkpoint_document(checkpoint: Checkpoint) -> dict[str, Any]:
    def at(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat() if value is not None else None

    return {
        "organization_id": str(checkpoint.organization_id),
        "cut": at(checkpoint.cut),
        "tree_size": checkpoint.tree_size,
        "root_hash": bytes(checkpoint.root_hash).hex(),
        "count": checkpoint.count,
        "first_at": at(checkpoint.first_at),
        "last_at": at(checkpoint.last_at),
        "leaves": checkpoint.leaves,
        "timestamp_ms": checkpoint.timestamp_ms,
    }


def _checkpoint(organization_id: uuid.UUID, cut: datetime) -> Checkpoint | None:
    """Sign and store the checkpoint of what the cut removes, and record the purge as a system
    event; None when nothing is older than the cut."""
    from integrity.services import latest_head

    # The sealing lock, held to the commit: no sealer appends an event that this purge removes.
    TreeState.objects.bulk_create([TreeState(organization_id=organization_id)], ignore_conflicts=True)
    TreeState.objects.select_for_update().filter(organization_id=organization_id).first()
    old = Event.objects.filter(organization_id=organization_id, recorded_at__lt=cut)
    span = old.aggregate(first=Min("recorded_at"), last=Max("recorded_at"))
    count = old.count()
    if not count:
        return None
    head = latest_head(organization_id)
    indexes = list(
        Leaf.objects.filter(organization_id=organization_id, recorded_at__lt=cut)
        .order_by("index")
        .values_list("index", flat=True)
    )
    private, kid = signing_key()
    checkpoint = Checkpoint(
        organization_id=organization_id,
        cut=cut,
        tree_size=head.tree_size if head is not None else 0,
        root_hash=bytes(head.root_hash) if head is not None else b"",
        count=count,
        first_at=span["first"],
        last_at=span["last"],
        leaves=_runs(indexes),
        timestamp_ms=int(time.time() * 1000),
        key_id=kid,
    )
    checkpoint.signature = private.sign(checkpoint_message(checkpoint_document(checkpoint)))
    checkpoint.save(force_insert=True)
    record_system(
        organization_id=organization_id,
        kind=SystemEvent.Kind.CRON,
        system_name="RetentionPurge",
        source=SOURCE,
        locality=DEFAULT_REGION,
        resources=[
            {
                "id": str(checkpoint.pk),
                "type": "retention_checkpoint",
                "name": f"{count} events recorded before {cut.isoformat()}",
            }
        ],
    )
    return checkpoint


def _partitions(cursor: Any) -> list[tuple[str, datetime]]:
    """The monthly partitions of the events table and where each ends."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
        [TABLE],
    )
    found = []
    for (name,) in cursor.fetchall():
        match = PARTITION_RE.match(name)
        if match:
            start = date(int(match[1]), int(match[2]), 1)
            end = _add_months(start, 1)
            found.append((name, datetime(end.year, end.month, 1, tzinfo=UTC)))
    return found


def _drop_partitions(using: str, floor: datetime, covered: dict[uuid.UUID, datetime]) -> list[str]:
    """Detach and drop each partition that ends before `floor` and whose every organization has a
    checkpoint of this run reaching past its end (so none under legal hold)."""
    dropped = []
    with connections[using].cursor() as cursor:
        for name, end in _partitions(cursor):
            if end > floor:
                continue
            # SHARE blocks inserts into it until the transaction ends: none slips in after the check.
            cursor.execute(f'LOCK TABLE "{name}" IN SHARE MODE')
            cursor.execute(f'SELECT DISTINCT organization_id FROM "{name}"')
            organizations = [row[0] for row in cursor.fetchall()]
            if any(covered.get(o) is None or covered[o] < end for o in organizations):
                continue
            cursor.execute(f'ALTER TABLE "{TABLE}" DETACH PARTITION "{name}"')
            cursor.execute(f'DROP TABLE "{name}"')
            dropped.append(name)
    return dropped


def _delete_rows(using: str, covered: dict[uuid.UUID, datetime]) -> int:
    """Delete the remaining rows older than each organization's cut, the row trigger disabled for
    this transaction only (PostgreSQL; SQLite's trigger refuses only UPDATE)."""
    if not covered:
        return 0
    connection = connections[using]
    postgres = connection.vendor == "postgresql"
    deleted = 0
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(f'ALTER TABLE "{TABLE}" DISABLE TRIGGER {ROW_TRIGGER}')
        organization_field, time_field = (
            models.UUIDField(),
            models.DateTimeField(),
        )  # as the columns store them
        for organization_id, cut in covered.items():
            cursor.execute(
                f'DELETE FROM "{TABLE}" WHERE organization_id = %s AND recorded_at < %s',
                [
                    organization_field.get_db_prep_value(organization_id, connection),
                    time_field.get_db_prep_value(cut, connection),
                ],
            )
            deleted += cursor.rowcount
        if postgres:
            cursor.execute(f'ALTER TABLE "{TABLE}" ENABLE TRIGGER {ROW_TRIGGER}')
    return deleted


def purge_due(*, interval: float) -> bool:
    """True at most once per `interval` seconds across every worker (the shared cache's atomic add)."""
    from django.core.cache import cache

    return bool(cache.add("integrity:retention-purge", 1, timeout=interval))
