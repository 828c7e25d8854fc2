"""Sealing and proofs: the Django side of integrity (`integrity.merkle` holds the mathematics).

Each organization's events are the leaves of one Merkle tree (RFC 9162 hashing), in the order
sealing meets them, which is arrival order: a sealer appends the events that are not yet in the
tree, so an event ingested late with an old `recorded_at` becomes a leaf after every event sealed
before it arrived. The tree's state (size and frontier) sits on the organization's `TreeState`
row, which a sealer locks FOR UPDATE: two workers sealing one organization take turns.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.models import Event
from audit.serializers import event_json
from integrity import documents, merkle
from integrity.canonical import canonical_bytes, head_message
from integrity.keys import signing_key
from integrity.models import Leaf, Node, PublicKey, TreeHead, TreeState

# At most this many events per sealing transaction (one head each): bounds a sweep's memory.
SEAL_BATCH = 5000
# Sealing stores the roots of the perfect subtrees of this level (64 leaves) and above: n / 32
# rows for n leaves. A proof then reads O(log n) of them and at most 2 * 64 leaves.
NODE_MIN_LEVEL = 6


def event_document(event: Event) -> dict[str, Any]:
    """What an event's leaf hashes: the event as the API serves it (`audit.serializers.event_json`)
    plus the two stored fields that the wire shape leaves out, the principal's type and name."""
    document = event_json(event)
    document["principal_type"] = event.principal_type
    document["principal_name"] = event.principal_name
    return document


def event_leaf_hash(event: Event) -> bytes:
    return merkle.leaf_hash(canonical_bytes(event_document(event)))


def split_hashes(blob: bytes | memoryview) -> list[bytes]:
    data = bytes(blob)
    return [data[i : i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]


def _organization(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _unsealed(organization_id: uuid.UUID, event_ids: Sequence[uuid.UUID] | None) -> list[documents.Row]:
    """The events not yet in the tree, as rows (`integrity.documents.COLUMNS`: no model instance):
    of `event_ids`, in their order (the order they were stored), or all of the organization's,
    oldest `recorded_at` first (a sweep: their arrival order among themselves is not known, and
    they all arrived after what the tree holds)."""
    if event_ids is not None:
        found = documents.rows_by_id(documents.fetch_rows(organization_id, event_ids, unsealed=True))
        return [found[i] for i in dict.fromkeys(event_ids) if i in found]
    in_tree = Leaf.objects.filter(organization_id=organization_id, event_id=OuterRef("id"))
    pending = Event.objects.filter(organization_id=organization_id).filter(~Exists(in_tree))
    return list(pending.order_by("recorded_at", "id").values_list(*documents.COLUMNS)[:SEAL_BATCH])


# A leaf as written: organization_id, index, event_id, recorded_at, hash (no model instance: a
# thousand of them cost more than the COPY that writes the rows).
LeafRow = tuple[uuid.UUID, int, uuid.UUID, datetime, bytes]
LEAF_COLUMNS = ("organization_id", "index", "event_id", "recorded_at", "hash")


def _insert_leaves(leaves: list[LeafRow]) -> None:
    """On PostgreSQL one COPY (a thousand-row INSERT's parameters cost more than its work)."""
    if connection.vendor != "postgresql":
        Leaf.objects.bulk_create([Leaf(**dict(zip(LEAF_COLUMNS, row, strict=True))) for row in leaves])
        return
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(
            f'COPY {Leaf._meta.db_table} (organization_id, "index", event_id, recorded_at, hash) FROM STDIN'
        ) as copy,
    ):
        for row in leaves:
            copy.write_row(row)


def seal(organization_id: uuid.UUID | str, event_ids: Iterable[uuid.UUID | str] | None = None) -> int:
    """Append the organization's unsealed events to its tree and sign a head for each batch.

    Given `event_ids` (what `events_recorded` announced), only those are looked at: a few indexed
    queries. Without, every event of the organization not yet in the tree (a sweep: one anti-join
    over the organization's events, which costs a scan of them). Idempotent: an event already in
    the tree is skipped. Returns how many events were sealed.
    """
    organization_id = _organization(organization_id)
    if event_ids is not None:
        ids = [_organization(i) for i in event_ids]
        return sum(
            _seal_batch(organization_id, ids[i : i + SEAL_BATCH]) for i in range(0, len(ids), SEAL_BATCH)
        )
    backfill_nodes(organization_id)
    sealed = 0
    while True:  # a sweep: batch after batch, until one comes back short
        count = _seal_batch(organization_id, None)
        sealed += count
        if count < SEAL_BATCH:
            return sealed


def _seal_batch(organization_id: uuid.UUID, event_ids: list[uuid.UUID] | None) -> int:
    with transaction.atomic():
        TreeState.objects.bulk_create([TreeState(organization_id=organization_id)], ignore_conflicts=True)
        state = TreeState.objects.select_for_update().get(organization_id=organization_id)
        events = _unsealed(organization_id, event_ids)
        if event_ids is None:
            state.swept_at = timezone.now()
        if not events:
            if event_ids is None:
                state.save(update_fields=["swept_at"])
            return 0
        frontier, size = split_hashes(state.frontier), state.size
        leaves: list[LeafRow] = []
        nodes: list[Node] = []
        for row in events:
            leaf = documents.row_leaf_hash(row)
            frontier, completed = merkle.append_completing(frontier, size, leaf)
            leaves.append((organization_id, size, row[0], row[1], leaf))
            nodes.extend(
                Node(organization_id=organization_id, level=level, index=index, hash=root)
                for level, index, root in completed
                if level >= NODE_MIN_LEVEL
            )
            size += 1
        _insert_leaves(leaves)
        Node.objects.bulk_create(nodes)
        state.size, state.frontier = size, b"".join(frontier)
        state.save()
        sign_head(organization_id, size, merkle.frontier_root(frontier))
    return len(events)


def sign_head(organization_id: uuid.UUID, tree_size: int, root_hash: bytes) -> TreeHead:
    private, kid = signing_key()
    timestamp_ms = int(time.time() * 1000)
    message = head_message(
        organization_id=str(organization_id),
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp_ms=timestamp_ms,
    )
    return TreeHead.objects.create(
        organization_id=organization_id,
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp_ms=timestamp_ms,
        key_id=kid,
        signature=private.sign(message),
    )


def seal_sweep_due(*, interval: float, now: datetime | None = None) -> list[uuid.UUID]:
    """The organizations whose last full sweep is older than `interval` seconds (or never ran)."""
    from iam.models import Organization

    now = now or timezone.now()
    recent = TreeState.objects.filter(swept_at__gt=now - timedelta(seconds=interval))
    return list(
        Organization.objects.exclude(pk__in=recent.values("organization_id")).values_list("pk", flat=True)
    )


# -- Reading the tree ------------------------------------------------------------------------------


def latest_head(organization_id: uuid.UUID | str) -> TreeHead | None:
    return TreeHead.objects.filter(organization_id=organization_id).order_by("-tree_size").first()


def head_of_size(organization_id: uuid.UUID | str, tree_size: int) -> TreeHead | None:
    return TreeHead.objects.filter(organization_id=organization_id, tree_size=tree_size).first()


def leaf_hashes(organization_id: uuid.UUID | str, size: int) -> list[bytes]:
    """The first `size` leaf hashes, in order: 32 bytes per leaf (verification and tests; proofs
    read stored subtree roots instead, `subtree_roots`)."""
    rows = Leaf.objects.filter(organization_id=organization_id, index__lt=size).order_by("index")
    return [bytes(h) for h in rows.values_list("hash", flat=True).iterator(chunk_size=10000)]


def _leaf_range(organization_id: uuid.UUID | str, spans: Iterable[merkle.Span]) -> dict[int, bytes]:
    """The leaf hashes of these ranges of indexes, in one query."""
    ranges = Q()
    for start, end in spans:
        ranges |= Q(index__gte=start, index__lt=end)
    if not ranges:
        return {}
    rows = Leaf.objects.filter(ranges, organization_id=organization_id).values_list("index", "hash")
    return {index: bytes(h) for index, h in rows}


def subtree_roots(
    organization_id: uuid.UUID | str, subtrees: Iterable[merkle.Subtree]
) -> dict[merkle.Subtree, bytes]:
    """The roots of these aligned perfect subtrees (level, index) of the organization's tree: those
    of level >= NODE_MIN_LEVEL from their stored `Node` rows (one query), the smaller ones from
    their leaves (one query, 2^level leaves each). A stored root that is missing (a tree sealed
    before nodes were stored, until `backfill_nodes` has run) is computed from its leaves."""
    wanted = set(subtrees)
    big = [s for s in wanted if s[0] >= NODE_MIN_LEVEL]
    roots: dict[merkle.Subtree, bytes] = {}
    if big:
        by_level: dict[int, list[int]] = {}
        for level, index in big:
            by_level.setdefault(level, []).append(index)
        which = Q()
        for level, indexes in by_level.items():
            which |= Q(level=level, index__in=indexes)
        rows = Node.objects.filter(which, organization_id=organization_id).values_list(
            "level", "index", "hash"
        )
        roots = {(level, index): bytes(h) for level, index, h in rows}
    from_leaves = [s for s in wanted if s not in roots]
    leaves = _leaf_range(organization_id, [(i << lv, (i + 1) << lv) for lv, i in from_leaves])
    for level, index in from_leaves:
        start = index << level
        hashes = [leaves[i] for i in range(start, start + (1 << level)) if i in leaves]
        if len(hashes) != 1 << level:
            raise LookupError(f"leaves {start} to {start + (1 << level) - 1} are not all in the tree")
        roots[(level, index)] = merkle.root(hashes)
    return roots


def span_roots(organization_id: uuid.UUID | str, spans: Sequence[merkle.Span]) -> list[bytes]:
    """MTH of each range of leaves that a proof names (`merkle.inclusion_spans`,
    `merkle.consistency_spans`), folded from stored subtree roots: two queries in all."""
    parts = [merkle.perfect_subtrees(start, end) for start, end in spans]
    roots = subtree_roots(organization_id, (s for part in parts for s in part))
    return [merkle.frontier_root([roots[s] for s in part]) for part in parts]


def backfill_nodes(organization_id: uuid.UUID | str) -> int:
    """Store the subtree roots that a tree sealed before nodes were stored lacks (a pass over its
    leaves; one indexed probe when none is missing). The sweep runs it. Returns how many it wrote."""
    state = TreeState.objects.filter(organization_id=organization_id).first()
    if state is None:
        return 0
    # Sealing writes a tree's nodes with its leaves, in the same transaction: a tree whose first
    # node is there has them all (one primary-key probe).
    if state.size < 1 << NODE_MIN_LEVEL or (
        Node.objects.filter(organization_id=organization_id, level=NODE_MIN_LEVEL, index=0).exists()
    ):
        return 0
    frontier: list[bytes] = []
    nodes: list[Node] = []
    written = 0
    leaves = Leaf.objects.filter(organization_id=organization_id, index__lt=state.size).order_by("index")
    for size, leaf in enumerate(leaves.values_list("hash", flat=True).iterator(chunk_size=10000)):
        frontier, completed = merkle.append_completing(frontier, size, bytes(leaf))
        nodes.extend(
            Node(organization_id=organization_id, level=level, index=index, hash=root)
            for level, index, root in completed
            if level >= NODE_MIN_LEVEL
        )
        if len(nodes) >= 2000:  # memory stays flat over millions of leaves
            Node.objects.bulk_create(nodes, ignore_conflicts=True)
            written, nodes = written + len(nodes), []
    Node.objects.bulk_create(nodes, ignore_conflicts=True)
    return written + len(nodes)


def head_json(head: TreeHead) -> dict[str, Any]:
    return {
        "organization_id": str(head.organization_id),
        "tree_size": head.tree_size,
        "root_hash": bytes(head.root_hash).hex(),
        "timestamp_ms": head.timestamp_ms,
        "key_id": head.key_id,
        "signature": bytes(head.signature).hex(),
    }


def public_keys_json() -> list[dict[str, str]]:
    return [{"key_id": k.key_id, "public_key": bytes(k.public_key).hex()} for k in PublicKey.objects.all()]


@dataclass(frozen=True)
class InclusionProof:
    leaf: Leaf
    head: TreeHead
    path: list[bytes]


def inclusion_proof(
    organization_id: uuid.UUID | str, event_id: uuid.UUID, head: TreeHead
) -> InclusionProof | None:
    """The event's audit path in the tree of `head`; None when the event is not sealed in it."""
    leaf = Leaf.objects.filter(organization_id=organization_id, event_id=event_id).first()
    if leaf is None or leaf.index >= head.tree_size:
        return None
    return _inclusion_proof(organization_id, leaf, head)


def _inclusion_proof(organization_id: uuid.UUID | str, leaf: Leaf, head: TreeHead) -> InclusionProof:
    """Cost: two queries (stored subtree roots, and at most 2 * 2^NODE_MIN_LEVEL leaves)."""
    path = span_roots(organization_id, merkle.inclusion_spans(leaf.index, head.tree_size))
    return InclusionProof(leaf=leaf, head=head, path=path)


def consistency_proof(organization_id: uuid.UUID | str, first: TreeHead, second: TreeHead) -> list[bytes]:
    """Cost: two queries, as an inclusion proof's."""
    return span_roots(organization_id, merkle.consistency_spans(first.tree_size, second.tree_size))


@dataclass(frozen=True)
class EventStatus:
    """An event's seal as the console shows it. `verified` is None when it is not sealed yet."""

    verified: bool | None
    head: TreeHead | None = None
    leaf_index: int | None = None
    leaf_hash: bytes = b""
    path: tuple[bytes, ...] = ()
    reason: str = ""


def event_status(organization_id: uuid.UUID, event: Event) -> EventStatus:
    """Check the event against the latest signed head: its leaf recomputed from the event as stored,
    the audit path to the head's root, the head's signature. Cost: five indexed queries, whatever
    the tree's size (the leaf, the head, the path's stored subtree roots and few leaves, the keys)."""
    from integrity.verification import check_signature

    leaf = Leaf.objects.filter(organization_id=organization_id, event_id=event.id).first()
    head = latest_head(organization_id)
    if leaf is None or head is None or leaf.index >= head.tree_size:
        return EventStatus(verified=None)
    proof = _inclusion_proof(organization_id, leaf, head)
    recomputed = event_leaf_hash(event)
    status = EventStatus(
        verified=False, head=head, leaf_index=leaf.index, leaf_hash=recomputed, path=tuple(proof.path)
    )
    if recomputed != bytes(leaf.hash):
        return replace(status, reason="The event differs from what was sealed.")
    if not merkle.verify_inclusion(recomputed, leaf.index, head.tree_size, proof.path, bytes(head.root_hash)):
        return replace(status, reason="The audit path does not lead to the head's root.")
    if not check_signature(head):
        return replace(status, reason="The head's signature does not verify.")
    return replace(status, verified=True)
