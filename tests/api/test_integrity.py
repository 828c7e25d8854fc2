"""The integrity proofs' endpoints (/x/integrity/v1/...): what they answer verifies with RFC 9162."""

from __future__ import annotations

import pytest

from integrity import merkle
from integrity.canonical import canonical_bytes
from integrity.keys import clear_cache
from integrity.services import seal
from tests.factories import OrganizationFactory
from tests.integrity.conftest import make_events

BASE = "/x/integrity/v1"


@pytest.fixture
def sealed(acme):
    """Heads of sizes K (what came before: the API key's creation), K + 3 and K + 5; K is 1 or 0
    (a test without a key). The events of the last two."""
    clear_cache()
    seal(acme.pk)
    first = make_events(acme, 3)
    seal(acme.pk)
    second = make_events(acme, 2)
    seal(acme.pk)
    return first + second


def sizes(acme) -> tuple[int, int, int]:
    from integrity.models import TreeHead

    return tuple(
        TreeHead.objects.filter(organization_id=acme.pk)
        .values_list("tree_size", flat=True)
        .order_by("tree_size")
    )


def test_the_latest_signed_head(auditor_api, acme, sealed) -> None:
    k, _, last = sizes(acme)
    head = auditor_api.get(f"{BASE}/signed-tree-head").json()
    assert head["tree_size"] == last == k + 5 and head["organization_id"] == str(acme.pk)
    from integrity.models import Leaf

    before = [
        bytes(h)
        for h in Leaf.objects.filter(organization_id=acme.pk, index__lt=k)
        .order_by("index")
        .values_list("hash", flat=True)
    ]
    leaves = before + [merkle.leaf_hash(canonical_bytes(d)) for d in _documents(auditor_api, sealed)]
    assert head["root_hash"] == merkle.root(leaves).hex()
    keys = auditor_api.get(f"{BASE}/public-keys").json()["keys"]
    assert [k["key_id"] for k in keys] == [head["key_id"]]


def _documents(api, events):
    return [api.get(f"{BASE}/events/{e.id}/inclusion-proof").json()["event"] for e in events]


def test_an_inclusion_proof_verifies_against_its_head(auditor_api, acme, sealed) -> None:
    k, middle, last = sizes(acme)
    for tree_size in (None, middle):
        query = {} if tree_size is None else {"tree_size": tree_size}
        proof = auditor_api.get(f"{BASE}/events/{sealed[1].id}/inclusion-proof", query).json()
        leaf = merkle.leaf_hash(canonical_bytes(proof["event"]))
        assert leaf.hex() == proof["leaf_hash"] and proof["leaf_index"] == k + 1
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        head = proof["head"]
        assert head["tree_size"] == (tree_size or last)
        assert merkle.verify_inclusion(leaf, k + 1, head["tree_size"], path, bytes.fromhex(head["root_hash"]))


def test_an_event_sealed_after_the_head_has_no_proof_in_it(auditor_api, acme, sealed) -> None:
    answer = auditor_api.get(f"{BASE}/events/{sealed[4].id}/inclusion-proof", {"tree_size": sizes(acme)[1]})
    assert answer.status_code == 404


def test_a_consistency_proof_verifies_between_two_heads(auditor_api, acme, sealed) -> None:
    k, middle, last = sizes(acme)
    proof = auditor_api.get(f"{BASE}/consistency-proof", {"first": middle, "second": last}).json()
    first, second = proof["first"], proof["second"]
    assert (first["tree_size"], second["tree_size"]) == (middle, last)
    assert merkle.verify_consistency(
        middle,
        last,
        bytes.fromhex(first["root_hash"]),
        bytes.fromhex(second["root_hash"]),
        [bytes.fromhex(h) for h in proof["consistency_path"]],
    )
    assert auditor_api.get(f"{BASE}/consistency-proof").json()["first"]["tree_size"] == k


def test_sizes_without_a_head_are_not_found_and_heads_come_in_either_order(auditor_api, acme, sealed) -> None:
    k, middle, last = sizes(acme)
    answer = auditor_api.get(f"{BASE}/consistency-proof", {"first": middle + 1, "second": last})
    assert answer.status_code == 404 and answer.json()["resource"] == "signed_tree_head"
    answer = auditor_api.get(f"{BASE}/events/{sealed[0].id}/inclusion-proof", {"tree_size": middle + 1})
    assert answer.status_code == 404
    swapped = auditor_api.get(f"{BASE}/consistency-proof", {"first": last, "second": middle}).json()
    assert (swapped["first"]["tree_size"], swapped["second"]["tree_size"]) == (middle, last)
    assert (
        auditor_api.get(f"{BASE}/events/{sealed[0].id}/inclusion-proof", {"tree_size": "x"}).status_code
        == 400
    )


def test_another_organizations_event_is_not_found(auditor_api, acme, sealed) -> None:
    other = OrganizationFactory()
    (foreign,) = make_events(other, 1)
    seal(other.pk)
    answer = auditor_api.get(f"{BASE}/events/{foreign.id}/inclusion-proof")
    assert answer.status_code == 404 and answer.json()["type"] == "not_found"
    assert auditor_api.get(f"{BASE}/signed-tree-head").json()["tree_size"] == sizes(acme)[2]


def test_a_member_without_rights_is_refused(member_key, sealed) -> None:
    from tests.api.conftest import ApiClient

    member_api = ApiClient(member_key[1])
    assert member_api.get(f"{BASE}/signed-tree-head").status_code == 403
    assert member_api.get(f"{BASE}/events/{sealed[0].id}/inclusion-proof").status_code == 403


def test_no_head_before_the_first_seal(auditor_api) -> None:
    assert auditor_api.get(f"{BASE}/signed-tree-head").status_code == 404
