"""`verify_trail`: recompute an organization's tree from the stored events and check it against
every signed head. The first break is named: an event altered, removed or inserted, the order of
the leaves changed, or a head whose signature does not verify.

Consistency between consecutive heads follows from the recomputation: both roots are recomputed
from one sequence of leaves, the second extending the first, so a head that matches its recomputed
root is consistent with every earlier head that matches its own.
"""

from __future__ import annotations

import bisect
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from audit.models import Event
from integrity import merkle
from integrity.canonical import checkpoint_message, head_message
from integrity.documents import fetch_rows, row_leaf_hash, rows_by_id
from integrity.keys import configured_public_key
from integrity.models import Checkpoint, Leaf, Node, PublicKey, TreeHead, VerificationRun

CHUNK = 2000
PROGRESS_EVERY = 100_000

ALTERED = "event altered"
REMOVED = "event removed"
INSERTED = "event inserted"
REORDERED = "order changed"
BAD_SIGNATURE = "bad signature"
BAD_HEAD = "bad head"
BAD_NODE = "stored node wrong"


@dataclass
class Outcome:
    organization_id: uuid.UUID
    leaves: int = 0
    heads: int = 0
    purged: int = 0  # leaves whose events a signed retention checkpoint removed
    kind: str = ""  # empty when the trail verifies
    message: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.kind

    def fail(self, kind: str, message: str) -> Outcome:
        self.kind, self.message = kind, f"{kind}: {message}"
        return self


Progress = Callable[[str], None]


def _keys() -> dict[str, Ed25519PublicKey]:
    """Every published key, and the configured one (which a rewrite of the published list cannot
    replace). An auditor's own copy of the keys is the stronger anchor: `python -m integrity.verify`."""
    keys = {
        k.key_id: Ed25519PublicKey.from_public_bytes(bytes(k.public_key)) for k in PublicKey.objects.all()
    }
    configured = configured_public_key()
    if configured is not None:
        kid, raw = configured
        keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def check_signature(head: TreeHead, keys: dict[str, Ed25519PublicKey] | None = None) -> bool:
    """Does the head's signature verify under the key it names (of `keys`, else every known key)?"""
    key = (keys if keys is not None else _keys()).get(head.key_id)
    if key is None:
        return False
    message = head_message(
        organization_id=str(head.organization_id),
        tree_size=head.tree_size,
        root_hash=bytes(head.root_hash),
        timestamp_ms=head.timestamp_ms,
    )
    try:
        key.verify(bytes(head.signature), message)
    except InvalidSignature:
        return False
    return True


def verify_organization(organization_id: uuid.UUID | str, *, progress: Progress | None = None) -> Outcome:
    """Verify one organization's trail; stops at the first break. Reads every leaf, event and head
    once, in chunks (memory stays flat)."""
    organization_id = (
        organization_id if isinstance(organization_id, uuid.UUID) else uuid.UUID(str(organization_id))
    )
    started, clock = timezone.now(), time.monotonic()
    outcome = _verify(organization_id, progress)
    outcome.seconds = time.monotonic() - clock
    VerificationRun.objects.create(
        organization_id=organization_id,
        started_at=started,
        finished_at=timezone.now(),
        ok=outcome.ok,
        tree_size=outcome.leaves,
        message=outcome.message,
    )
    return outcome


def _verify(organization_id: uuid.UUID, progress: Progress | None) -> Outcome:
    outcome = Outcome(organization_id)
    keys = _keys()
    heads = list(TreeHead.objects.filter(organization_id=organization_id).order_by("tree_size"))
    outcome.heads = len(heads)
    previous_time = 0
    for head in heads:
        if not check_signature(head, keys):
            return outcome.fail(BAD_SIGNATURE, f"the head of size {head.tree_size} (key {head.key_id[:16]}…)")
        if head.timestamp_ms < previous_time:
            return outcome.fail(
                BAD_HEAD, f"the head of size {head.tree_size} is older than the one before it"
            )
        previous_time = head.timestamp_ms
    purged, failure = _purged_leaves(organization_id, heads, keys)
    if failure:
        return outcome.fail(*failure)
    total = Leaf.objects.filter(organization_id=organization_id).count()
    # The stored subtree roots that proofs read (`integrity.models.Node`, n / 32 rows): each must be
    # what the recomputed leaves give, or proofs would fail to verify (never falsely pass).
    nodes = {
        (level, index): bytes(h)
        for level, index, h in Node.objects.filter(organization_id=organization_id).values_list(
            "level", "index", "hash"
        )
    }
    pending = iter(heads)
    head = next(pending, None)
    frontier: list[bytes] = []
    last_good_head = 0
    leaves = Leaf.objects.filter(organization_id=organization_id).order_by("index")
    index = 0
    for chunk in _chunks(leaves.values_list("index", "event_id", "hash")):
        events = rows_by_id(fetch_rows(organization_id, [row[1] for row in chunk], unsealed=False))
        for leaf_index, event_id, stored in chunk:
            if leaf_index != index:
                return outcome.fail(
                    REMOVED, f"leaf {index} is missing from the tree (the next is {leaf_index})"
                )
            event = events.get(event_id)
            if event is None and purged(index):  # removed by retention: its stored leaf stands in
                recomputed = bytes(stored)
                outcome.purged += 1
            elif event is None:
                return outcome.fail(REMOVED, f"event {event_id} (leaf {index}) is no longer in the trail")
            else:
                recomputed = row_leaf_hash(event)
            if recomputed != bytes(stored):
                return outcome.fail(ALTERED, f"event {event_id} (leaf {index}) differs from what was sealed")
            frontier, completed = merkle.append_completing(frontier, index, recomputed)
            for level, node_index, node_root in completed:
                stored_node = nodes.get((level, node_index))
                if stored_node is not None and stored_node != node_root:
                    return outcome.fail(
                        BAD_NODE,
                        f"the stored root of leaves {node_index << level} to {((node_index + 1) << level) - 1} "
                        "differs from the leaves' (proofs through it would not verify)",
                    )
            index += 1
            while head is not None and head.tree_size == index:
                if merkle.frontier_root(frontier) != bytes(head.root_hash):
                    return outcome.fail(
                        REORDERED,
                        f"leaves {last_good_head} to {index - 1} are not in the order the head of size "
                        f"{head.tree_size} signed (each event matches its own leaf)",
                    )
                last_good_head = index
                head = next(pending, None)
            if progress and index % PROGRESS_EVERY == 0:
                progress(f"{organization_id}: {index:,} of {total:,} leaves verified")
        outcome.leaves = index
    if head is not None:
        return outcome.fail(
            REMOVED, f"the head of size {head.tree_size} signed leaves that are gone ({index} left)"
        )
    in_tree = Leaf.objects.filter(organization_id=organization_id, event_id=OuterRef("id"))
    stray = (
        Event.objects.filter(organization_id=organization_id).filter(~Exists(in_tree)).order_by("recorded_at")
    )
    first_stray = stray.first()
    if first_stray is not None:
        return outcome.fail(
            INSERTED,
            f"event {first_stray.id} (recorded at {first_stray.recorded_at.isoformat()}) is in the trail but in "
            f"no sealed tree, with {stray.count() - 1} more (or it arrived after the last seal: run again once "
            "sealing has run)",
        )
    return outcome


def _purged_leaves(
    organization_id: uuid.UUID, heads: list[TreeHead], keys: dict[str, Ed25519PublicKey]
) -> tuple[Callable[[int], bool], tuple[str, str] | None]:
    """Which leaves' events retention removed: those of the organization's checkpoints, each of
    which must carry a good signature and name a signed head (its size and root)."""
    from integrity.retention import checkpoint_document

    roots = {head.tree_size: bytes(head.root_hash) for head in heads}
    runs: list[tuple[int, int]] = []
    for checkpoint in Checkpoint.objects.filter(organization_id=organization_id).order_by("cut"):
        key = keys.get(checkpoint.key_id)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(bytes(checkpoint.signature), checkpoint_message(checkpoint_document(checkpoint)))
        except InvalidSignature:
            return _never, (BAD_SIGNATURE, f"the retention checkpoint of {checkpoint.cut.isoformat()}")
        if roots.get(checkpoint.tree_size) != bytes(checkpoint.root_hash):
            return _never, (
                BAD_HEAD,
                f"the retention checkpoint of {checkpoint.cut.isoformat()} names no signed head of size "
                f"{checkpoint.tree_size}",
            )
        runs += [
            (int(first), int(last)) for first, last in checkpoint.leaves if int(last) < checkpoint.tree_size
        ]
    merged: list[list[int]] = []  # disjoint: a later checkpoint repeats an earlier one's leaves
    for first, last in sorted(runs):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    starts = [first for first, _ in merged]

    def purged(index: int) -> bool:
        at = bisect.bisect_right(starts, index) - 1
        return at >= 0 and index <= merged[at][1]

    return purged, None


def _never(index: int) -> bool:
    return False


def _chunks(
    rows: QuerySet[Any, tuple[int, uuid.UUID, bytes]],
) -> Iterator[list[tuple[int, uuid.UUID, bytes]]]:
    chunk: list[tuple[int, uuid.UUID, bytes]] = []
    for row in rows.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
