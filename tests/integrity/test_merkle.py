"""integrity.merkle against the RFC 9162 definitions, written naively (recursion over slices)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from integrity import merkle


def naive_mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:])).digest()


def naive_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, data[:k]), naive_mth(data[k:])]
    return [*naive_path(m - k, data[k:]), naive_mth(data[:k])]


def naive_subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [naive_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, data[:k], b), naive_mth(data[k:])]
    return [*naive_subproof(m - k, data[k:], False), naive_mth(data[:k])]


def leaves_of(data: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(d) for d in data]


datas = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)


def test_hashes_use_the_rfc_prefixes() -> None:
    assert merkle.leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert merkle.node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert merkle.root([]) == hashlib.sha256(b"").digest()


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_root_and_frontier_match_the_definition(data: list[bytes]) -> None:
    leaves = leaves_of(data)
    assert merkle.root(leaves) == naive_mth(data)
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves):
        frontier = merkle.append(frontier, size, leaf)
        assert merkle.frontier_root(frontier) == naive_mth(data[: size + 1])
    assert len(frontier) == bin(len(data)).count("1")


@given(datas, st.data())
def test_inclusion_proofs_match_the_definition_and_verify(data: list[bytes], draw: st.DataObject) -> None:
    leaves = leaves_of(data)
    size = draw.draw(st.integers(1, len(data)))
    index = draw.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(leaves, index, size)
    assert proof == naive_path(index, data[:size])
    top = naive_mth(data[:size])
    assert merkle.verify_inclusion(leaves[index], index, size, proof, top)


@given(datas, st.data())
def test_altered_inclusion_proofs_fail(data: list[bytes], draw: st.DataObject) -> None:
    leaves = leaves_of(data)
    size = len(leaves)
    index = draw.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(leaves, index)
    top = merkle.root(leaves)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, top)
    if size > 1:
        assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, proof, top)
        flip = draw.draw(st.integers(0, len(proof) - 1))
        altered = [*proof]
        altered[flip] = bytes([altered[flip][0] ^ 1]) + altered[flip][1:]
        assert not merkle.verify_inclusion(leaves[index], index, size, altered, top)
        assert not merkle.verify_inclusion(leaves[index], index, size, proof[:-1], top)
        assert not merkle.verify_inclusion(leaves[index], index, size, [*proof, top], top)


@given(datas, st.data())
def test_consistency_proofs_match_the_definition_and_verify(data: list[bytes], draw: st.DataObject) -> None:
    leaves = leaves_of(data)
    second = draw.draw(st.integers(1, len(data)))
    first = draw.draw(st.integers(0, second))
    proof = merkle.consistency_proof(leaves, first, second)
    if 0 < first < second:
        assert proof == naive_subproof(first, data[:second], True)
    assert merkle.verify_consistency(first, second, naive_mth(data[:first]), naive_mth(data[:second]), proof)


@given(datas, st.data())
def test_consistency_fails_for_a_rewritten_history(data: list[bytes], draw: st.DataObject) -> None:
    leaves = leaves_of(data)
    second = len(leaves)
    first = draw.draw(st.integers(1, second))
    proof = merkle.consistency_proof(leaves, first, second)
    changed = draw.draw(st.integers(0, first - 1))
    rewritten = [*leaves]
    rewritten[changed] = merkle.leaf_hash(b"rewritten")
    # The first head was of the original history; the second tree rewrote one of its leaves.
    fake_second = merkle.root(rewritten)
    forged = merkle.consistency_proof(rewritten, first, second)
    assert not merkle.verify_consistency(first, second, merkle.root(leaves, 0, first), fake_second, forged)
    assert not merkle.verify_consistency(first, second, merkle.root(leaves, 0, first), fake_second, proof)
    if proof:
        flip = draw.draw(st.integers(0, len(proof) - 1))
        altered = [*proof]
        altered[flip] = bytes([altered[flip][0] ^ 1]) + altered[flip][1:]
        top = merkle.root(leaves)
        assert not merkle.verify_consistency(first, second, merkle.root(leaves, 0, first), top, altered)
        assert not merkle.verify_consistency(first, second, merkle.root(leaves, 0, first), top, proof[1:])


def test_proofs_refuse_positions_outside_the_tree() -> None:
    leaves = leaves_of([b"a", b"b"])
    for bad in [(2, 2), (-1, 2), (0, 3)]:
        try:
            merkle.inclusion_proof(leaves, *bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert merkle.root_from_inclusion_proof(leaves[0], 2, 2, []) is None
    assert not merkle.verify_consistency(2, 1, merkle.root(leaves), merkle.root(leaves[:1]), [])
