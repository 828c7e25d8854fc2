"""Proofs built from stored subtree roots (`integrity.models.Node`) instead of every leaf: the same
bytes as the pure RFC 9162 functions, from a bounded number of rows whatever the tree's size."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from integrity import merkle, services
from integrity.models import Leaf, Node, TreeHead
from integrity.services import consistency_proof, inclusion_proof, leaf_hashes, seal
from tests.integrity.conftest import as_tamperer, make_events
from tests.integrity.test_verify_trail import u


@given(st.integers(min_value=1, max_value=300), st.data())
def test_proofs_fold_from_perfect_subtrees_to_the_rfc_proofs(size: int, data: st.DataObject) -> None:
    """What the server does, without a database: each range a proof names, folded from the roots
    of its aligned perfect subtrees, is the range's MTH, so the proof is the RFC's."""
    leaves = [os.urandom(32) for _ in range(size)]

    def folded(spans: list[merkle.Span]) -> list[bytes]:
        return [
            merkle.frontier_root(
                [merkle.root(leaves, i << lv, (i + 1) << lv) for lv, i in merkle.perfect_subtrees(*s)]
            )
            for s in spans
        ]

    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    first = data.draw(st.integers(min_value=0, max_value=size))
    assert folded(merkle.inclusion_spans(index, size)) == merkle.inclusion_proof(leaves, index, size)
    assert folded(merkle.consistency_spans(first, size)) == merkle.consistency_proof(leaves, first, size)


@given(st.lists(st.binary(max_size=4), min_size=1, max_size=200))
def test_appending_reports_every_perfect_subtree_it_completes(data: list[bytes]) -> None:
    leaves = [merkle.leaf_hash(d) for d in data]
    frontier: list[bytes] = []
    completed: dict[tuple[int, int], bytes] = {}
    for size, leaf in enumerate(leaves):
        grown, nodes = merkle.append_completing(frontier, size, leaf)
        assert grown == merkle.append(frontier, size, leaf)
        frontier = grown
        completed.update({(level, index): root for level, index, root in nodes})
    expected = {
        (level, index): merkle.root(leaves, index << level, (index + 1) << level)
        for level in range(1, len(leaves).bit_length())
        for index in range(len(leaves) >> level)
    }
    assert completed == expected
    assert merkle.frontier_root(frontier) == merkle.root(leaves)


@pytest.fixture
def small_nodes(monkeypatch) -> int:
    """Nodes from level 2 (4 leaves) up, so that a small tree has nodes at many levels."""
    monkeypatch.setattr(services, "NODE_MIN_LEVEL", 2)
    return 2


def seal_in_batches(organization, sizes: list[int], django_capture_on_commit_callbacks) -> None:
    for n in sizes:
        with django_capture_on_commit_callbacks(execute=True):
            make_events(organization, n)


def test_sealing_stores_each_completed_subtree_root(
    acme, small_nodes, django_capture_on_commit_callbacks
) -> None:
    seal_in_batches(acme, [5, 1, 17, 30, 2], django_capture_on_commit_callbacks)
    leaves = leaf_hashes(acme.pk, 55)
    stored = {(n.level, n.index): bytes(n.hash) for n in Node.objects.filter(organization_id=acme.pk)}
    assert stored == {
        (level, index): merkle.root(leaves, index << level, (index + 1) << level)
        for level in range(small_nodes, 6)
        for index in range(55 >> level)
    }


def test_proofs_from_stored_nodes_equal_the_pure_proofs_at_every_head(
    acme, small_nodes, django_capture_on_commit_callbacks
) -> None:
    seal_in_batches(acme, [1, 3, 4, 9, 16, 1, 30, 7], django_capture_on_commit_callbacks)
    heads = list(TreeHead.objects.filter(organization_id=acme.pk).order_by("tree_size"))
    leaves = leaf_hashes(acme.pk, heads[-1].tree_size)
    by_index = {leaf.index: leaf for leaf in Leaf.objects.filter(organization_id=acme.pk)}
    for head in heads:
        for index in range(head.tree_size):
            proof = inclusion_proof(acme.pk, by_index[index].event_id, head)
            assert proof is not None
            assert proof.path == merkle.inclusion_proof(leaves, index, head.tree_size)
            assert merkle.verify_inclusion(
                leaves[index], index, head.tree_size, proof.path, bytes(head.root_hash)
            )
        for first in heads:
            if first.tree_size <= head.tree_size:
                path = consistency_proof(acme.pk, first, head)
                assert path == merkle.consistency_proof(leaves, first.tree_size, head.tree_size)


def test_a_proof_reads_a_few_rows_whatever_the_trees_size(
    acme, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """With the real NODE_MIN_LEVEL (64 leaves): 600 leaves, yet a proof reads two queries'
    worth, at most 2 * 64 leaves and log2(n) nodes."""
    seal_in_batches(acme, [300, 300], django_capture_on_commit_callbacks)
    head = TreeHead.objects.get(organization_id=acme.pk, tree_size=600)
    first = TreeHead.objects.get(organization_id=acme.pk, tree_size=300)
    leaves = leaf_hashes(acme.pk, 600)
    read: list[int] = []
    leaf_range = services._leaf_range

    def counting(*args, **kwargs):
        found = leaf_range(*args, **kwargs)
        read.append(len(found))
        return found

    monkeypatch.setattr(services, "_leaf_range", counting)
    for index in (0, 63, 64, 299, 511, 512, 598, 599):
        leaf = Leaf.objects.get(organization_id=acme.pk, index=index)
        with CaptureQueriesContext(connection) as queries:
            proof = services._inclusion_proof(acme.pk, leaf, head)
        assert proof.path == merkle.inclusion_proof(leaves, index, 600)
        assert len(queries) <= 2
        assert read[-1] <= 2 * 64
    with CaptureQueriesContext(connection) as queries:
        assert consistency_proof(acme.pk, first, head) == merkle.consistency_proof(leaves, 300, 600)
    assert len(queries) <= 2 and read[-1] <= 2 * 64


def test_a_tree_sealed_before_nodes_were_stored_is_backfilled_by_the_sweep(
    acme, small_nodes, django_capture_on_commit_callbacks
) -> None:
    seal_in_batches(acme, [20, 13], django_capture_on_commit_callbacks)
    stored = {(n.level, n.index): bytes(n.hash) for n in Node.objects.filter(organization_id=acme.pk)}
    with as_tamperer() as cursor:
        cursor.execute("DELETE FROM integrity_node WHERE organization_id = %s", [u(acme.pk)])
    assert not Node.objects.filter(organization_id=acme.pk).exists()
    head = TreeHead.objects.get(organization_id=acme.pk, tree_size=33)
    leaves = leaf_hashes(acme.pk, 33)
    leaf = Leaf.objects.get(organization_id=acme.pk, index=5)
    # Still right without them (from the leaves), only slower.
    assert services._inclusion_proof(acme.pk, leaf, head).path == merkle.inclusion_proof(leaves, 5, 33)
    seal(acme.pk)  # the sweep
    assert {(n.level, n.index): bytes(n.hash) for n in Node.objects.filter(organization_id=acme.pk)} == stored


def test_verify_trail_names_a_stored_node_that_differs_from_the_leaves(
    acme, small_nodes, django_capture_on_commit_callbacks
) -> None:
    from integrity.verification import BAD_NODE, verify_organization

    seal_in_batches(acme, [20, 13], django_capture_on_commit_callbacks)
    assert verify_organization(acme.pk).ok
    with as_tamperer() as cursor:
        cursor.execute(
            'UPDATE integrity_node SET hash = %s WHERE organization_id = %s AND level = 3 AND "index" = 1',
            [b"\x00" * 32, u(acme.pk)],
        )
    outcome = verify_organization(acme.pk)
    assert outcome.kind == BAD_NODE and "leaves 8 to 15" in outcome.message
