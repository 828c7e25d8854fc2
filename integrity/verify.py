"""The standalone verifier: checks our proofs with nothing but the standard library and `cryptography`
(no Django, no access to our server or database). docs/integrity.md is its manual.

    python -m integrity.verify inclusion PROOF.json --keys KEYS.json
    python -m integrity.verify consistency PROOF.json --keys KEYS.json
    python -m integrity.verify export FILE MANIFEST.json --keys KEYS.json

PROOF.json is the API's answer (GetInclusionProof, GetConsistencyProof); KEYS.json holds the public
keys the auditor trusts: the answer of /x/integrity/v1/public-keys, saved when they fetched it
(`{"keys": [{"key_id", "public_key"}]}`, hex). FILE is an export file (a job's day, gzipped or
not, or a download) and MANIFEST.json its signed manifest. Exit status 0 when the proof holds, 1
when not.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import sys
import zlib
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from integrity import merkle
from integrity.canonical import canonical_bytes, head_message, key_id
from integrity.manifest import VERSION, manifest_message


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


def check_manifest(manifest: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> None:
    """The manifest's signature, and its head's."""
    if manifest.get("version") != VERSION:
        raise Refused(f"not a manifest this verifier knows ({manifest.get('version')!r})")
    key = keys.get(manifest["key_id"])
    if key is None:
        raise Refused(f"the manifest is signed by unknown key {manifest['key_id']}")
    try:
        key.verify(bytes.fromhex(manifest["signature"]), manifest_message(manifest))
    except InvalidSignature:
        raise Refused("the manifest's signature does not verify: it was altered") from None
    head, tree = manifest.get("head"), manifest["tree"]
    if head is not None:
        check_head(head, keys)
        if head["organization_id"] != manifest["organization_id"]:
            raise Refused("the manifest's head is of another organization")
        if tree["leaf_index_max"] is not None and int(tree["leaf_index_max"]) >= int(head["tree_size"]):
            raise Refused("the manifest's leaves are not all in its head's tree")
    elif tree["leaves"]:
        raise Refused("the manifest counts leaves but names no head")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ndjson_rows(content: bytes, organization_id: str) -> list[datetime]:
    moments = []
    # Lines end at "\n" only: str.splitlines would also cut at U+2028 and others, which JSON
    # strings may hold unescaped.
    lines = content.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        row = json.loads(line.decode("utf-8"))
        if not isinstance(row, dict):
            raise Refused(f"line {number} is not a JSON object")
        if row.get("truncated") is True and "id" not in row:
            continue  # a download's last line, saying the row limit cut it
        if row.get("organization_id") != organization_id:
            raise Refused(f"line {number} is an event of another organization")
        moments.append(_moment(row["recorded_at"]))
    return moments


def _csv_rows(content: bytes) -> list[datetime]:
    records = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    return [_moment(r[0]) for r in records[1:] if r and not r[0].startswith("# Truncated")]


def check_export(data: bytes, manifest: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> str:
    """An export file against its signed manifest: the manifest's signature and its head's, the
    file's SHA-256 (as written, or decompressed), its row count and time range."""
    check_manifest(manifest, keys)
    gzipped = data[:2] == b"\x1f\x8b"
    digest = hashlib.sha256(data).hexdigest()
    if gzipped:
        if digest != manifest["sha256"]:
            raise Refused("the file's SHA-256 is not the manifest's: the file was altered")
        content = gzip.decompress(data)
    else:
        content = data
    if hashlib.sha256(content).hexdigest() != manifest["content_sha256"]:
        raise Refused("the file's SHA-256 is not the manifest's: the file was altered")
    moments = (
        _csv_rows(content)
        if manifest["format"] == "csv"
        else _ndjson_rows(content, manifest["organization_id"])
    )
    if len(moments) != int(manifest["rows"]):
        raise Refused(f"the file holds {len(moments)} rows, the manifest {manifest['rows']}")
    if moments:
        first, last = min(moments), max(moments)
        if (first, last) != (_moment(manifest["first_recorded_at"]), _moment(manifest["last_recorded_at"])):
            raise Refused("the file's time range is not the manifest's")
    tree, head = manifest["tree"], manifest["head"]
    where = (
        f"leaves {tree['leaf_index_min']}..{tree['leaf_index_max']} of the tree of size {head['tree_size']}"
        if head and tree["leaves"]
        else "no leaf sealed yet"
    )
    if tree["unsealed"]:
        where += f", {tree['unsealed']} rows not sealed yet"
    return (
        f"OK: {manifest['rows']} rows, {manifest['first_recorded_at']} to {manifest['last_recorded_at']}, "
        f"sha256 {digest}, signed by key {manifest['key_id']}; {where}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrity.verify", description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    for kind in ("inclusion", "consistency"):
        sub = kinds.add_parser(kind, help=f"Check an {kind} proof.")
        sub.add_argument("proof", help="The API's answer, as a JSON file.")
        sub.add_argument("--keys", required=True, help="The trusted public keys, as a JSON file.")
    sub = kinds.add_parser("export", help="Check an export file against its signed manifest.")
    sub.add_argument("file", help="The export file: a day's .ndjson.gz (or gunzipped), or a download.")
    sub.add_argument("manifest", help="Its manifest, as a JSON file.")
    sub.add_argument("--keys", required=True, help="The trusted public keys, as a JSON file.")
    args = parser.parse_args(argv)
    try:
        with open(args.keys, encoding="utf-8") as file:
            keys = load_keys(json.load(file))
        if args.kind == "export":
            with open(args.manifest, encoding="utf-8") as file:
                manifest = json.load(file)
            with open(args.file, "rb") as binary:
                print(check_export(binary.read(), manifest, keys))
            return 0
        with open(args.proof, encoding="utf-8") as file:
            proof = json.load(file)
        check = check_inclusion if args.kind == "inclusion" else check_consistency
        print(check(proof, keys))
    except Refused as refusal:
        print(f"REFUSED: {refusal}")
        return 1
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError, IndexError) as error:
        print(f"REFUSED: malformed input ({type(error).__name__}: {error})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
