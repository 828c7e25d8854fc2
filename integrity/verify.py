"""The standalone verifier: checks our proofs with nothing but the standard library and `cryptography`
(no Django, no access to our server or database). docs/integrity.md is its manual.

    python -m integrity.verify inclusion PROOF.json --keys KEYS.json
    python -m integrity.verify consistency PROOF.json --keys KEYS.json

PROOF.json is the API's answer (GetInclusionProof, GetConsistencyProof); KEYS.json holds the public
keys the auditor trusts: the answer of /x/integrity/v1/public-keys, saved when they fetched it
(`{"keys": [{"key_id", "public_key"}]}`, hex). Exit status 0 when the proof holds, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from integrity import merkle
from integrity.canonical import canonical_bytes, head_message, key_id


class Refused(Exception):
    pass


def load_keys(document: Any) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for entry in document.get("keys", []):
        raw = bytes.fromhex(entry["public_key"])
        if key_id(raw) != entry["key_id"]:
            raise Refused(f"key {entry['key_id']}: its id is not the SHA-256 of its public key")
        keys[entry["key_id"]] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def check_head(head: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> bytes:
    """The head's root hash, once its signature holds under one of `keys`."""
    key = keys.get(head["key_id"])
    if key is None:
        raise Refused(f"the head of size {head['tree_size']} is signed by unknown key {head['key_id']}")
    root = bytes.fromhex(head["root_hash"])
    message = head_message(
        organization_id=head["organization_id"],
        tree_size=int(head["tree_size"]),
        root_hash=root,
        timestamp_ms=int(head["timestamp_ms"]),
    )
    try:
        key.verify(bytes.fromhex(head["signature"]), message)
    except InvalidSignature:
        raise Refused(f"the head of size {head['tree_size']}: bad signature") from None
    return root


def check_inclusion(proof: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> str:
    head = proof["head"]
    root = check_head(head, keys)
    event = proof["event"]
    if event.get("organization_id") != head["organization_id"]:
        raise Refused("the event is not of the head's organization")
    leaf = merkle.leaf_hash(canonical_bytes(event))
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    if not merkle.verify_inclusion(leaf, int(proof["leaf_index"]), int(head["tree_size"]), path, root):
        raise Refused(f"event {event.get('id')} is not leaf {proof['leaf_index']} of the signed tree")
    return (
        f"OK: event {event.get('id')} is leaf {proof['leaf_index']} of the tree of size {head['tree_size']}"
    )


def check_consistency(proof: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> str:
    first, second = proof["first"], proof["second"]
    if first["organization_id"] != second["organization_id"]:
        raise Refused("the heads are of two organizations")
    first_root, second_root = check_head(first, keys), check_head(second, keys)
    path = [bytes.fromhex(h) for h in proof["consistency_path"]]
    if not merkle.verify_consistency(
        int(first["tree_size"]), int(second["tree_size"]), first_root, second_root, path
    ):
        raise Refused(
            f"the tree of size {second['tree_size']} does not extend the tree of size {first['tree_size']}: "
            "history was rewritten"
        )
    return f"OK: the tree of size {second['tree_size']} extends the tree of size {first['tree_size']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrity.verify", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["inclusion", "consistency"])
    parser.add_argument("proof", help="The API's answer, as a JSON file.")
    parser.add_argument("--keys", required=True, help="The trusted public keys, as a JSON file.")
    args = parser.parse_args(argv)
    try:
        with open(args.keys, encoding="utf-8") as file:
            keys = load_keys(json.load(file))
        with open(args.proof, encoding="utf-8") as file:
            proof = json.load(file)
        check = check_inclusion if args.kind == "inclusion" else check_consistency
        print(check(proof, keys))
    except Refused as refusal:
        print(f"REFUSED: {refusal}")
        return 1
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"REFUSED: malformed input ({type(error).__name__}: {error})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
