from __future__ import annotations

from django.db import models

from audit.models import AppendOnlyModel, AppendOnlyQuerySet


class TreeState(models.Model):
    """An organization's tree as sealing left it: its size and frontier (the roots of the perfect
    subtrees that the binary digits of `size` cut it into, `integrity.merkle.append`). Its row is
    the organization's sealing lock: a sealer holds it FOR UPDATE while it appends."""

    organization_id = models.UUIDField(primary_key=True)
    size = models.BigIntegerField(default=0)
    frontier = models.BinaryField(default=b"")  # 32-byte hashes, concatenated
    # When the last full sweep (every event of the organization not in the tree) ran.
    swept_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.size} leaves"


class Leaf(AppendOnlyModel):
    """Leaf `index` of an organization's tree: one event, in the order sealing met it (arrival), and
    the hash of its canonical serialization. No foreign key to the partitioned events table; the
    event's `recorded_at` finds its partition."""

    pk = models.CompositePrimaryKey("organization_id", "index")
    organization_id = models.UUIDField()
    index = models.BigIntegerField()
    event_id = models.UUIDField()
    recorded_at = models.DateTimeField()
    hash = models.BinaryField(max_length=32)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ()
        constraints = [
            # An event is sealed once; sealing's "not yet in the tree" anti-join probes this too.
            models.UniqueConstraint(fields=["organization_id", "event_id"], name="integrity_leaf_event_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}#{self.index}"


class Node(AppendOnlyModel):
    """The root of a perfect subtree of an organization's tree: level `level` (2^level leaves), the
    `index`-th of its level, over leaves [index * 2^level, (index + 1) * 2^level). Sealing writes
    one when it completes it, for levels >= `integrity.services.NODE_MIN_LEVEL` only (n / 32 rows
    for n leaves), so that a proof reads O(log n) of them and a few leaves, not every leaf."""

    pk = models.CompositePrimaryKey("organization_id", "level", "index")
    organization_id = models.UUIDField()
    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.level}/{self.index}"


class TreeHead(AppendOnlyModel):
    """A signed tree head: the organization's tree of `tree_size` leaves had `root_hash` at
    `timestamp_ms`; `signature` is the Ed25519 signature of `integrity.canonical.head_message`."""

    organization_id = models.UUIDField()
    tree_size = models.BigIntegerField()
    root_hash = models.BinaryField(max_length=32)
    timestamp_ms = models.BigIntegerField()
    key_id = models.CharField(max_length=64)
    signature = models.BinaryField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["organization_id", "tree_size"], name="integrity_head_size_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}@{self.tree_size}"


class PublicKey(AppendOnlyModel):
    """Every key that ever signed a head, by key id, so that heads verify after a rotation."""

    key_id = models.CharField(max_length=64, primary_key=True)
    public_key = models.BinaryField(max_length=32)  # raw Ed25519
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ()
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.key_id


class VerificationRun(models.Model):
    """The outcome of a `verify_trail` run over one organization."""

    organization_id = models.UUIDField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    tree_size = models.BigIntegerField()
    message = models.TextField(blank=True)

    class Meta:
        default_permissions = ()
        indexes = [
            # The Integrity page: an organization's last run.
            models.Index(fields=["organization_id", "-finished_at"], name="integrity_run_org_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {'ok' if self.ok else 'broken'} at {self.finished_at}"


class RetentionPolicy(models.Model):
    """How long an organization's events are kept (`integrity.retention`), and its legal hold,
    which blocks every purge of its events while set. No row: the default retention, no hold."""

    DEFAULT_DAYS = 90

    organization_id = models.UUIDField(primary_key=True)
    days = models.PositiveIntegerField(default=DEFAULT_DAYS)
    legal_hold = models.BooleanField(default=False)
    # Who set or lifted the hold last, and when (the trail holds every change, with its actor).
    hold_changed_by = models.CharField(max_length=255, blank=True)
    hold_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.days} days{' (legal hold)' if self.legal_hold else ''}"


class Checkpoint(AppendOnlyModel):
    """A signed record of a purge, written before anything is removed: the organization's events
    recorded before `cut` that are leaves below `tree_size` (the head at the cut, `root_hash`) may be
    gone. `leaves` is that leaf index set as [first, last] runs; `count` how many, `first_at` and
    `last_at` their time range. `signature` signs `integrity.canonical.checkpoint_message`."""

    organization_id = models.UUIDField()
    cut = models.DateTimeField()
    tree_size = models.BigIntegerField()
    root_hash = models.BinaryField(max_length=32)
    count = models.BigIntegerField()
    first_at = models.DateTimeField(null=True)
    last_at = models.DateTimeField(null=True)
    leaves = models.JSONField(default=list)
    timestamp_ms = models.BigIntegerField()
    key_id = models.CharField(max_length=64)
    signature = models.BinaryField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["organization_id", "cut"], name="integrity_checkpoint_org_idx")]

    def __str__(self) -> str:
        return f"{self.organization_id} before {self.cut}: {self.count} removed"
