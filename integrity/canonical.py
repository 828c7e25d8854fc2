"""The bytes that are hashed and signed, specified once, in the standard library only (the standalone
verifier imports this module). docs/integrity.md prints the same rules for auditors.

- An event's leaf data is its document (`integrity.services.event_document`: the event as the API
  serves it, plus the principal's type and name) serialized as JSON with keys sorted at every
  level, no whitespace (separators "," and ":"), non-ASCII characters escaped as \\uXXXX (so the
  text is ASCII), encoded as UTF-8: `json.dumps(doc, sort_keys=True, separators=(",", ":"))`.
- A tree head's signed message is the ASCII text of five lines, each ended by "\\n":
  `audit-trail-tree-head/v1`, the organization id (lowercase UUID), the tree size (decimal), the
  root hash (lowercase hex), the head's time (milliseconds since the Unix epoch, decimal).
- A retention checkpoint's signed message is `audit-trail-checkpoint/v1` and a newline, then the
  canonical JSON (as above) of {"organization_id", "cut" (ISO 8601, UTC), "tree_size", "root_hash"
  (hex), "count", "first_at", "last_at" (ISO 8601 or null), "leaves" ([first, last] index runs),
  "timestamp_ms"}.
- A key id is the lowercase hex SHA-256 of the raw 32-byte Ed25519 public key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HEAD_CONTEXT = "audit-trail-tree-head/v1"
CHECKPOINT_CONTEXT = "audit-trail-checkpoint/v1"


def canonical_bytes(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8")


def head_message(*, organization_id: str, tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    lines = [
        HEAD_CONTEXT,
        str(organization_id).lower(),
        str(int(tree_size)),
        root_hash.hex(),
        str(int(timestamp_ms)),
    ]
    return "".join(f"{line}\n" for line in lines).encode("ascii")


def checkpoint_message(document: dict[str, Any]) -> bytes:
    return f"{CHECKPOINT_CONTEXT}\n".encode("ascii") + canonical_bytes(document)


def key_id(public_key_raw: bytes) -> str:
    return hashlib.sha256(public_key_raw).hexdigest()
