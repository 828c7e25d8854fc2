"""Merkle trees as RFC 9162 (Certificate Transparency v2) defines them, §2.1: pure standard library,
so that the standalone verifier (`python -m integrity.verify`) shares this very code.

- A leaf's hash is SHA-256(0x00 || data); an interior node's is SHA-256(0x01 || left || right).
- MTH of n leaves: the empty string's hash for 0, the leaf hash for 1, else with k the largest
  power of two smaller than n, node(MTH(first k), MTH(the rest)).
- Inclusion proofs (§2.1.3) and consistency proofs (§2.1.4), generated and verified with the RFC's
  algorithms, step for step.

Functions take and return leaf *hashes* (32 bytes each), never the leaf data, except `leaf_hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    return hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- Roots ---------------------------------------------------------------------------------------


def append(frontier: Sequence[bytes], size: int, leaf: bytes) -> list[bytes]:
    """The frontier of a tree of `size` leaves, grown by one leaf hash.

    The frontier is the roots of the perfect subtrees that the binary digits of `size` cut the
    tree into, largest (leftmost) first: log2(size) hashes at most, enough to append and to
    compute the root without reading the leaves again.
    """
    grown = [*frontier, leaf]
    while size & 1:
        right = grown.pop()
        grown[-1] = node_hash(grown[-1], right)
        size >>= 1
    return grown


def append_completing(
    frontier: Sequence[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """`append`, also returning the perfect subtrees that this leaf completes, as (level, index,
    root), level 1 upward: leaf i completes the subtree of level l over it when its low l bits are
    all ones, i.e. one per trailing 1 bit of i."""
    grown = [*frontier, leaf]
    completed: list[tuple[int, int, bytes]] = []
    level, rest = 0, size
    while rest & 1:
        right = grown.pop()
        grown[-1] = node_hash(grown[-1], right)
        level, rest = level + 1, rest >> 1
        completed.append((level, size >> level, grown[-1]))
    return grown, completed


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree whose frontier this is: the subtrees folded from the right."""
    if not frontier:
        return empty_root()
    root = frontier[-1]
    for subtree in reversed(frontier[:-1]):
        root = node_hash(subtree, root)
    return root


def root(leaves: Sequence[bytes], start: int = 0, end: int | None = None) -> bytes:
    """MTH(leaves[start:end]), in one pass over them."""
    end = len(leaves) if end is None else end
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves[start:end]):
        frontier = append(frontier, size, leaf)
    return frontier_root(frontier)


# -- Inclusion proofs (§2.1.3) ---------------------------------------------------------------------


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """PATH(index, D[size]): the audit path of leaf `index` in the tree of the first `size` leaves."""
    size = len(leaves) if size is None else size
    if not 0 <= index < size <= len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root, collecting the siblings; the RFC's recursion appends them on the way
    # back up, so they are reversed at the end.
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(root(leaves, start + k, end))
            end = start + k
        else:
            path.append(root(leaves, start, start + k))
            start += k
    path.reverse()
    return path


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that `path` proves leaf hash `leaf` at `index` in a tree of `size` leaves to belong
    to (§2.1.3.2), or None when the proof is malformed (too long, too short)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    return root_from_inclusion_proof(leaf, index, size, path) == expected_root


# -- Consistency proofs (§2.1.4) -------------------------------------------------------------------


def consistency_proof(leaves: Sequence[bytes], first: int, second: int | None = None) -> list[bytes]:
    """PROOF(first, D[second]): that the tree of the first `first` leaves is a prefix of the tree of
    `second` leaves. Empty when first is 0 or equal to second (nothing to prove)."""
    second = len(leaves) if second is None else second
    if not 0 <= first <= second <= len(leaves):
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    if first in (0, second):
        return []
    return _subproof(leaves, first, 0, second, complete=True)


def _subproof(leaves: Sequence[bytes], m: int, start: int, end: int, *, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [root(leaves, start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves, m, start, start + k, complete=complete), root(leaves, start + k, end)]
    return [*_subproof(leaves, m - k, start + k, end, complete=False), root(leaves, start, start + k)]


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """Does `path` prove the tree (first, first_root) a prefix of (second, second_root)? §2.1.4.2."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    proof = list(path)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a node of the second
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# -- Proofs from stored subtrees ---------------------------------------------------------------------
#
# The hashes a proof carries are roots of ranges of leaves, and each of those ranges is a run of
# *aligned perfect subtrees*: (level L, index i) is the subtree over leaves [i * 2^L, (i+1) * 2^L).
# A server that stores those roots (for levels >= some k) builds any proof from O(log n) of them
# plus a few leaves, instead of every leaf. The functions below say which ranges a proof needs and
# how a range's root folds from its perfect subtrees; `root_of` callbacks supply the hashes.

Subtree = tuple[int, int]  # (level, index)
Span = tuple[int, int]  # leaves [start, end)


def perfect_subtrees(start: int, end: int) -> list[Subtree]:
    """The aligned perfect subtrees, largest first, whose roots fold (from the right) into
    MTH(leaves[start:end]) for a range that a proof names (start a multiple of the largest power of
    two not above end - start, as the RFC's splits always make it)."""
    subtrees: list[Subtree] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise ValueError(f"[{start}, {end}) is not a range of the RFC's recursion")
        subtrees.append((level, start >> level))
        start += 1 << level
    return subtrees


def inclusion_spans(index: int, size: int) -> list[Span]:
    """The ranges whose roots make PATH(index, D[size]), in the path's order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    spans: list[Span] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            spans.append((start + k, end))
            end = start + k
        else:
            spans.append((start, start + k))
            start += k
    spans.reverse()
    return spans


def consistency_spans(first: int, second: int) -> list[Span]:
    """The ranges whose roots make PROOF(first, D[second]), in the proof's order."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    if first in (0, second):
        return []
    spans: list[Span] = []
    m, start, end, complete = first, 0, second, True
    tail: list[Span] = []
    while True:
        n = end - start
        if m == n:
            if not complete:
                spans.append((start, end))
            break
        k = _split(n)
        if m <= k:
            tail.append((start + k, end))
            end = start + k
        else:
            tail.append((start, start + k))
            m, start, complete = m - k, start + k, False
    return spans + tail[::-1]
